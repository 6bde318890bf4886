"""The SharePoint lists: creating them (`provision`) and keeping a mirror of them in step (`mirror`)."""
