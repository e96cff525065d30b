"""Journeys: "N days after event X, if the condition still holds, send Y to Z", as
durable timers fired once across every hub process (see ``docs/audiences.md``)."""
