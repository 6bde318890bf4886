"""The SharePoint service: sites, lists, columns and list items with delta, and Sites.Selected grants."""
