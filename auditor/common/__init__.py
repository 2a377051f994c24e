"""Small mechanisms every stage shares (the plug-in registry)."""
