"""Benchmark the assistant on this machine: index build, warm start, per-question stage
latency, the peer-style baseline, and a synthetic scale sweep of the search indexes.

    python eval/bench.py [--quick] [--json OUT] [--report OUT.md] [--chart OUT.png]
                         [--sizes 10000,100000,1000000] [--vectors random,real-like]
    python eval/bench.py --build-only [--repeat N]   # the build alone: chunks/s, CPU per chunk, peak RSS

What is measured (all in one run):

* build: the corpus is copied to a temporary directory and indexed into a temporary index dir
  (`settings.replace(index_dir=tmp)`) in a subprocess, so its peak RSS is its own: total time,
  embedding chunks/s, index size on disk; then one paragraph is appended to one report and the
  index is rebuilt (only that report's changed chunks are re-embedded: how many, how long).
* start-up: `Assistant.load(settings, build_if_needed=False)` on that index in this process
  (imports, model, index) and the first search / first answer.
* per question (eval/questions.jsonl; --quick: the first 20), warm: every stage of
  `Answer.timings` (query, embed, lexical, dense, fusion, compose, verify, total) with
  p50/p95/p99, end-to-end `assistant.ask(q, mode="extractive")` and `assistant.search(q)`.
* serving memory: RSS after loading and the peak (ru_maxrss) after the questions.
* baseline: `baseline_searchers` of eval/evaluate.py (fixed 750-char chunks, dense + BM25
  ensemble), timed interleaved with our search on the same questions; baseline_ratio = our
  p50 retrieval latency / the baseline's.
* sweep: FAISS flat vs approximate (HNSW from `assistant.indexing.build.make_faiss_index`, IVF-Flat with
  nlist = 4*sqrt(N)) on synthetic 384-d normalized vectors, and BM25 (`LexicalIndex`) on
  documents sampled from the real chunks' jieba tokens: build time, p50/p95 per query,
  recall@10 against flat, size in MB. Two vector distributions: `random` (isotropic Gaussian,
  normalized: the worst case for approximate search, every neighbour is almost as far as any
  other point) and `real-like` (a Gaussian with the mean and covariance of the real chunk
  embeddings, normalized, queried with the real eval questions' vectors: e5's anisotropy and
  low intrinsic dimension, which is what approximate indexes exploit).

Single queries are timed one at a time (as the app searches), k = 50 candidates as the
retriever asks FAISS for (`Settings.candidates`), recall on the first 10.

The code, by what it measures (`python eval/bench.py` is the entry, bench/cli.py its flags):

    common.py      timers, percentiles, memory, the question file, the environment record
    build.py       the index build and the incremental rebuild (a subprocess: its own peak RSS)
    serving.py     warm start, first search/answer, per-question stage latency, serving memory
    retrieval.py   our search against the peer-style baseline, interleaved
    embedding.py   the query embedding: the engine alone, its OpenMP settings
    documents.py   document embedding: the e5 engines' chunks/s and the cosine between them
    dense.py       the sweep's vector indexes (FAISS flat / HNSW / IVF) on synthetic vectors
    lexical.py     the sweep's BM25 on synthetic documents of real jieba tokens
    sweep.py       the sweep over sizes, and the flat_max_vectors advice drawn from it
    report.py      the markdown report and the chart
    cli.py         the flags, the order of the runs, --sweep-only and --render

`eval/bench.py` and this package share a name: run as a script, eval/ is on sys.path and
`import bench` finds this package (a package directory wins over a module of the same name).
"""
