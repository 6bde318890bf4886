"""The public pages: server-rendered, no JavaScript, every change behind a POST and recorded as a hand-off."""
