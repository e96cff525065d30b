"""The spokehub demo: the webshop scenario (``examples/webshop``) on the embedded store.

Run with ``make demo``. It starts the sandboxes of Shopify, HubSpot, Meta and Klaviyo on
127.0.0.1 and ``spokehub serve`` in ``demo-out/`` (recreated each run), tells the story
step by step, and prints what each tool received, and when.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.webshop.story import Scenario
from demo.webshop.tools import Tools

WORK = Path(__file__).resolve().parents[1] / "demo-out"


def main() -> int:
    # Piped (make, CI), rich would assume 80 columns; the timeline reads better wider.
    console = Console(width=None if sys.stdout.isatty() else 120)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    started = time.monotonic()
    with Tools() as tools:
        scenario = Scenario(WORK, tools, console)
        try:
            facts = scenario.run()
        except Exception as exc:
            console.print(f"[red]demo failed: {exc}[/red] (the hub's log: demo-out/daemon.log)")
            scenario.timeline.render(console)
            return 1
        scenario.timeline.render(console)
    console.print(
        f"\n[bold green]demo finished in {time.monotonic() - started:.0f} s[/bold green]: "
        f"the order reached every tool {facts.order_to_tools:.2f} s after Shopify's webhook "
        "was acknowledged."
    )
    steps = ", ".join(f"{name} {s:.1f} s" for name, s in facts.seconds.items() if name != "total")
    console.print(f"[dim]steps: {steps}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
