"""Guest access: from a request to a guest in the programme's group, under the council's policy."""
