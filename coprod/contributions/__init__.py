"""Contributions between sessions (issue 30): the Contributions list kept in the state store's mirror, for the
"what we've heard" page and the report, and the one email someone who left an address gets once an officer
publishes what they wrote."""
