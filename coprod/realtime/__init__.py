"""Real time: Graph tells us a list changed (`webhooks`), and the queue between its notifications and the runs
they call for (`webhook_queues`)."""
