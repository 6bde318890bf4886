"""The subscriptions service: change notifications (webhooks) for SharePoint lists, and their lifecycle events."""
