"""The SharePoint lists: creating them (`provision`), keeping a mirror of them in step (`mirror`), and their
records as every part reads them (`records`, `notes`)."""
