"""Foundation figures: cold import of the function app, and the client's CPU time to read 10,000 list items.

    python bench/foundation.py

Goals (issue 2): import <= 1.0 s and <= 150 MB; reading 10,000 items <= 0.5 s
of client CPU. The msgraph-sdk figure is the same read parsed through the
SDK's generated models, for comparison.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emulator_process

ROOT = Path(__file__).resolve().parent.parent
IMPORT_PROBE = ("import resource, time; t = time.perf_counter(); import function_app; "
                "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")


def import_figures(runs: int = 5) -> tuple[float, float]:
    times, peaks = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        times.append(float(out[0]))
        peaks.append(float(out[1]))
    return statistics.median(times), max(peaks)


def main() -> None:
    seconds, peak = import_figures()
    print(f"import function_app: {seconds:.3f} s (median of 5 cold imports), peak RSS {peak:.0f} MB"
          f"   [goal: <= 1.0 s, <= 150 MB]")

    from config import load_settings
    from graph_client import GraphClient, SharePointLists

    with emulator_process() as emulator:
        settings = load_settings(emulator.env() | {"COPROD_SIGNING_KEY": "bench-signing-key-0123456789abcdef"})
        with GraphClient.from_settings(settings) as graph:
            lists = SharePointLists(graph, settings.site_id)
            lst = lists.create_list("People", [{"name": "Email", "text": {}}, {"name": "Consent", "boolean": {}},
                                               {"name": "Capacity", "number": {}}])
            emulator.seed("People", [{"Title": f"Person {n}", "Email": f"person{n}@example.org", "Consent": True,
                                      "Capacity": n % 20} for n in range(10_000)])
            list(lists.iter_items(lst.id))  # warm up: token, TLS session, first imports
            for page_size in (5000, 200):
                lists.page_size = page_size
                before_requests = graph.stats["requests"]
                cpu, wall = time.process_time(), time.perf_counter()
                items = list(lists.iter_items(lst.id))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert len(items) == 10_000
                print(f"read 10,000 items, $top={page_size:<4}: client CPU {cpu:.3f} s, wall {wall:.2f} s, "
                      f"{graph.stats['requests'] - before_requests} requests   [goal: <= 0.5 s CPU]")

            from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
            from msgraph.generated.models.list_item_collection_response import ListItemCollectionResponse

            factory = JsonParseNodeFactory()
            for page_size in (5000,):  # one pass: it takes minutes
                cpu, wall = time.process_time(), time.perf_counter()
                count, link = 0, f"/sites/{settings.site_id}/lists/{lst.id}/items?$expand=fields&$top={page_size}"
                while link:
                    raw = graph.send("read items (sdk models)", "GET", link).content
                    page = factory.get_root_parse_node("application/json", raw).get_object_value(
                        ListItemCollectionResponse)
                    count += len(page.value)
                    link = page.odata_next_link
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert count == 10_000
                print(f"same read through msgraph-sdk models, $top={page_size:<4}: client CPU {cpu:.3f} s, "
                      f"wall {wall:.2f} s (first SDK use includes importing its models)")


if __name__ == "__main__":
    main()
