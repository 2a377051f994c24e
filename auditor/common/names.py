"""Names shared by the data stage and the stages after it."""

__all__ = ["BACKGROUND"]

#: The region every image has: its pixels outside every annotated region (last in the stack).
BACKGROUND = "background"
