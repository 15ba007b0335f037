"""A small CPU-bound program with a known shape, for `tools/dev.sh demo`."""
import json
import threading
import time


def parse(blob):
    return json.loads(blob)


def render(doc):
    return json.dumps(doc, sort_keys=True)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def handle_request(i):
    doc = parse('{"id": %d, "items": [1, 2, 3, 4, 5, 6, 7, 8]}' % i)
    doc["fib"] = fib(18)
    return render(doc)


def background():
    while not done.is_set():
        sum(i * i for i in range(10000))
        time.sleep(0.001)


done = threading.Event()


def main(seconds=2.5):
    worker = threading.Thread(target=background, name="background")
    worker.start()
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        handle_request(n)
        n += 1
    done.set()
    worker.join()
    print("demo: handled %d requests" % n)


if __name__ == "__main__":
    import sys
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.5)
