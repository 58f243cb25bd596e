"""``sentinelle serve``: the hospital's logs detected as they arrive, and nothing lost.

listeners → journal → detector → store → notify. Each stage hands the next a typed record
(:class:`~sentinelle.service.records.Record` into the journal, alerts into the store) and keeps
its own counters. Durability is a property of the journal alone: an event is accepted once it is
in the journal on disk and synced; every stage after it may crash and replay, and deterministic
ids (:mod:`sentinelle.service.ids`) make the replay harmless.
"""
