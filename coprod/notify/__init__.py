"""Texts and letters through GOV.UK Notify (issue 31): people booked by phone or post are told what the team's daily
list would have told them, by a text (ContactPreference Phone) or a letter (Post), each once, when COPROD_NOTIFY_*
are set (docs/notify.md); whatever Notify refuses goes back on the team's list, saying why."""
