-- wrk: POST the same chat-completion request cutover and oha send (bench/request.json, inlined by compare.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
