#!/usr/bin/env bash
# Start `make run` on the embedded defaults in a scratch copy, wait for
# /healthz to say ok with a worker registered, then stop it. Exit 1 if not
# within 90 seconds.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
stop() {
  # Ctrl-C, as a person would stop it; then check that it left nothing running.
  local status=$?
  if [ -n "$pid" ]; then
    kill -INT -- -"$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- -"$pid" 2>/dev/null || true
  fi
  redis_pid=$(python3 -c 'import json,sys; print(open(json.load(open(sys.argv[1]))["pidfile"]).read().strip())' \
              "$work/instance/redis.rdb.settings" 2>/dev/null || true)
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    echo "make run left its embedded Redis (pid $redis_pid) running after Ctrl-C" >&2
    kill "$redis_pid"; status=1
  fi
  rm -rf "$work"
  exit $status
}
trap stop EXIT
git -C "$src" ls-files -z | (cd "$src" && xargs -0 cp -p --parents -t "$work")
ln -s "$src/.venv" "$work/.venv"
port=$(( 20000 + $$ % 10000 ))
cd "$work"
setsid env -u DATABASE_URL -u REDIS_URL -u AT_API_KEY make run PORT=$port >"$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 90); do
  body=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null || true)
  if printf '%s' "$body" | grep -q '"status": *"ok"' && printf '%s' "$body" | grep -Eq '"workers": *[1-9]'; then
    echo "make run: healthy with a worker: $body"
    grep -m1 "First admin login" "$work/run.log" || { echo "no admin login printed" >&2; exit 1; }
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break  # make run has exited
  sleep 1
done
echo "make run did not become healthy in 90 s; its log:" >&2
cat "$work/run.log" >&2
exit 1
