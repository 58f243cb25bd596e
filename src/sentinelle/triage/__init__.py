"""Triage over normalised events, without rules: search, metrics and logon summaries.

What Chainsaw and Hayabusa users run beside a hunt: find every event that names a word, a
pattern or a field value (``search``), see what a collection holds (``metrics``: events per
channel, event id, computer, and the time span), and who logged on where, how and from where,
and who failed (``logons``). Each works on the events of any reader, one at a time, in memory
bounded by what it counts, not by the input.
"""
