"""The crisis room, part 2: the crisis cell's status board, crisis log, regulatory clocks and kit.

``board`` computes every service's status at every site from the impact engine, the probes
(``observed``) and people's declarations; ``live`` carries its changes to open pages and kiosk
screens; ``chain`` keeps the crisis log a hash chain; ``clocks`` runs the regulatory deadlines of
a significant incident; ``kit`` assembles the printable booklet; ``documents`` prints and makes
PDFs. ``docs/CRISIS.md`` says what the crisis cell sees and does.
"""
