"""The crisis pages, one module per concept: the board, the log, the clocks, the kit, and the
crisis cell's own administration (contacts, screens, members, clock settings)."""
