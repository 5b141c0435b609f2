"""`melodex similar` over a store of 100,000 tracks: the query itself vs the whole command.

    uv run --locked python benchmarks/bench_similar.py [--tracks 100000] [--queries 5]

Builds a feature store whose `tracks` and `track_embeddings` hold ``--tracks`` rows with RANDOM
200-d vectors (a speed test, not a quality one: neighbours of random vectors mean nothing), then
times, for the same query tracks:

1. in process, the query itself (what `melodex similar` reports as the query time: one
   matrix-vector product over the normalised vectors and a partial sort), next to the baseline of
   the documented SQL (sql/queries.sql, similar_tracks: DuckDB's ``array_cosine_similarity``);
2. what comes before it in every command: loading the vectors from DuckDB (one Arrow read) and
   building the index (normalising every row once);
3. the whole command, `melodex similar <track id> --format json`, as a user runs it (interpreter
   start, imports, loading, ranking, output).

Every answer is checked against the SQL's: the same ten track ids, so the figures time a right answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melodex_ml.search.library import library_vectors, similar_tracks  # noqa: E402
from melodex_ml.search.similarity import CosineIndex  # noqa: E402
from melodex_ml.settings import MelodexSettings  # noqa: E402
from melodex_ml.store import connect  # noqa: E402


def build_store(settings: MelodexSettings, n: int) -> None:
    with connect(settings.duckdb_path) as con:
        con.execute(
            """
            INSERT INTO tracks (track_id, path, path_bytes, root, size_bytes, mtime_ns, audio_hash, hash_scheme,
                                file_format, genres, first_seen_at, last_seen_at, changed_at, title, artist)
            SELECT printf('t%06d', i), printf('/music/%06d.flac', i), encode(printf('/music/%06d.flac', i)), '/music',
                   1, 1, md5(i::VARCHAR), 'flac', 'flac', [], now(), now(), now(), printf('Track %d', i), 'Artist'
            FROM range(?) r(i)
            """,
            [n],
        )
        con.execute(
            """
            INSERT INTO track_embeddings (track_id, model, embedding, layer, checkpoint_sha256, n_patches, flags, batch_id)
            SELECT printf('t%06d', i), 'msd-musicnn',
                   list_transform(range(200), lambda j: (random() - 0.5)::FLOAT)::FLOAT[200],
                   'model/dense/BiasAdd', 'random', 10, [], 'bench'
            FROM range(?) r(i)
            """,
            [n],
        )


# The documented query (sql/queries.sql, similar_tracks) for one track id, unrounded.
SIMILAR_SQL = """
WITH query AS (SELECT track_id, embedding FROM track_embeddings WHERE model = 'msd-musicnn' AND track_id = ?)
SELECT t.track_id, array_cosine_similarity(e.embedding, q.embedding) AS similarity
FROM track_embeddings e JOIN live_tracks t USING (track_id), query q
WHERE e.model = 'msd-musicnn' AND e.track_id <> q.track_id
ORDER BY similarity DESC LIMIT 10
"""


def same_answer(what: str, query: str, got: list[str], expected: list[str]) -> None:
    if got != expected:
        raise SystemExit(f"{what} for {query} differs from the documented SQL:\n  {got}\n  {expected}")


def whole_command(home: Path, query: str) -> tuple[float, list[str]]:
    """`melodex similar QUERY --format json` as a subprocess; its seconds and the track ids it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELODEX_") and k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "dagster_project.cli", "similar", query, "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run(command, env={**env, "MELODEX_HOME": str(home)}, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed, [row["track_id"] for row in json.loads(done.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = MelodexSettings(home=Path(tmp) / "home")
        started = time.perf_counter()
        build_store(settings, args.tracks)
        print(f"store of {args.tracks:,} tracks with RANDOM msd-musicnn vectors built in {time.perf_counter() - started:.1f} s")
        queries = [f"t{i:06d}" for i in range(0, args.tracks, max(1, args.tracks // args.queries))][: args.queries]

        duck, expected = [], {}
        with connect(settings.duckdb_path, read_only=True) as con:
            for query in queries:
                started = time.perf_counter()
                rows = con.execute(SIMILAR_SQL, [query]).fetchall()
                duck.append(time.perf_counter() - started)
                expected[query] = [track_id for track_id, _ in rows]
        loads, builds, ranks = [], [], []
        for query in queries:
            started = time.perf_counter()
            library = library_vectors(settings)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            CosineIndex(library.vectors, library.track_ids)
            builds.append(time.perf_counter() - started)
            answer = similar_tracks(settings, query, k=10)
            ranks.append(answer.query_seconds)
            same_answer("similar_tracks", query, [t.track_id for t in answer.tracks], expected[query])
        command = []
        for query in queries:
            seconds, found = whole_command(settings.home_dir, query)
            command.append(seconds)
            same_answer("melodex similar", query, found, expected[query])

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms"

    print(f"{len(queries)} queries, each answer the same 10 tracks as the documented SQL")
    ratio = lambda values: statistics.median(values) / statistics.median(ranks)  # noqa: E731
    print(f"1. query (CosineIndex, in process)            {ms(ranks)}")
    print(f"   baseline: documented SQL, DuckDB           {ms(duck)}   ({ratio(duck):.1f}x the query)")
    print(f"2. loading the vectors from DuckDB            {ms(loads)}")
    print(f"   building the index (normalising the rows)  {ms(builds)}")
    print(f"3. whole command `melodex similar`            {ms(command)}   ({ratio(command):.0f}x the query)")


if __name__ == "__main__":
    main()
