"""The embedded Redis: processes of one instance share one real server."""
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import sys, redis
from pathlib import Path
from gateway.adapters.redis_store import embedded_url
url = embedded_url(Path(sys.argv[1]))
conn = redis.Redis.from_url(url)
conn.incr("visits")
print(url, int(conn.get("visits")))
sys.stdout.flush()
"""


def test_two_processes_share_one_embedded_server(tmp_path):
    from gateway.adapters.redis_store import embedded_url, stop_embedded

    url = embedded_url(tmp_path)  # this process starts it and keeps it alive
    outputs = [subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=True).stdout.split() for _ in range(2)]
    assert [o[0] for o in outputs] == [url, url]
    assert [o[1] for o in outputs] == ["1", "2"]
    assert stop_embedded(tmp_path) is True
