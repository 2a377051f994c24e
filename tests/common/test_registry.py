"""The one registry mechanism behind methods, architectures and region formats."""

import pytest

from auditor.common.registry import Registry
from auditor.data.regions import list_region_formats
from auditor.errors import DataError, ModelError, SaliencyError
from auditor.models.registry import get_arch
from auditor.saliency import get_method


def test_unknown_name_suggests_the_closest_and_lists_all():
    reg = Registry("widget", error=ModelError, where="models[0].arch: ")
    reg.add("resnet18", 1)
    reg.add("alexnet", 2)
    with pytest.raises(ModelError) as err:
        reg.get("resnet-18")
    assert str(err.value) == ("models[0].arch: unknown widget 'resnet-18' "
                              "(did you mean 'resnet18'?); valid: alexnet, resnet18")


def test_duplicate_names_are_refused_and_order_is_kept_when_asked():
    reg = Registry("thing", error=ModelError, sort=False)
    reg.decorator("b", lambda fn: fn.__name__)(lambda: None)
    reg.add("a", "second")
    assert reg.names() == ["b", "a"] and reg.values() == ["<lambda>", "second"]
    with pytest.raises(ValueError, match="thing 'a' registered twice"):
        reg.add("a", "again")


def test_loader_runs_before_lookups():
    calls = []
    reg = Registry("thing", error=ModelError, loader=lambda: calls.append(1) or
                   (None if "x" in reg._entries else reg.add("x", 1)))
    assert "x" in reg and reg.get("x") == 1 and calls


@pytest.mark.parametrize(("lookup", "error", "name", "close"), [
    (get_arch, ModelError, "resnet_18", "resnet18"),
    (get_method, SaliencyError, "gradcampp", "gradcam++"),
])
def test_every_plugin_kind_suggests_a_close_name(lookup, error, name, close):
    with pytest.raises(error, match=f"did you mean '{close}'"):
        lookup(name)


def test_region_formats_share_the_mechanism():
    from auditor.data.regions import get_region_format

    assert {"coco", "masks", "boxes_csv"} <= set(list_region_formats())
    with pytest.raises(DataError, match=r"^data.regions.format: unknown region format 'cocoo' "
                                        r"\(did you mean 'coco'\?\)"):
        get_region_format("cocoo")
