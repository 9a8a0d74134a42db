#!/usr/bin/env python3
"""ccxt against `scalpel sim`, pointed at it by its URLs and its CA only.

Usage: sim_ccxt.py VENUE REST_URL CA_FILE API_KEY SECRET_ENV SYMBOL

VENUE is binance-usdm (ccxt.binanceusdm) or bybit-linear (ccxt.bybit).
Every URL in the exchange's `urls['api']` is rewritten to the simulator's
scheme and host (paths kept), and the simulator's CA file is the trust
store: ccxt's synchronous client uses `requests`, which reads it from the
REQUESTS_CA_BUNDLE environment variable once ccxt's `requests_trust_env`
option lets it (ccxt passes `verify=True` to every request, so a path in
`exchange.verify` is not used); the asyncio client takes it as the `cafile`
option. Nothing else about ccxt is changed. The script loads markets, reads
the order book, creates a limit order far from the market, fetches it,
cancels it, fetches it again, and prints one JSON line with what it saw.
It exits non-zero (with the ccxt error) on any failure.
"""
import json
import os
import sys
import urllib.parse

import ccxt


def point_at(exchange, rest_url):
    base = urllib.parse.urlsplit(rest_url)

    def rewrite(value):
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("http"):
            value = value.replace("{hostname}", exchange.hostname or "")
            parts = urllib.parse.urlsplit(value)
            return urllib.parse.urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def main():
    venue, rest_url, ca_file, api_key, secret_env, symbol = sys.argv[1:7]
    cls = {"binance-usdm": ccxt.binanceusdm, "bybit-linear": ccxt.bybit}[venue]
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    exchange = cls(
        {
            "apiKey": api_key,
            "secret": os.environ[secret_env],
            "enableRateLimit": False,
            "requests_trust_env": True,
            "cafile": ca_file,
        }
    )
    point_at(exchange, rest_url)

    markets = exchange.load_markets()
    market = exchange.market(symbol)
    book = exchange.fetch_order_book(symbol, 5)
    best_bid = book["bids"][0][0]
    best_ask = book["asks"][0][0]
    assert best_bid < best_ask, (best_bid, best_ask)
    # A limit buy 5% under the bid: it rests.
    price = float(exchange.price_to_precision(symbol, best_bid * 0.95))
    amount = max(market["limits"]["amount"]["min"] or 0.001, 0.002)
    amount = float(exchange.amount_to_precision(symbol, amount))
    created = exchange.create_order(symbol, "limit", "buy", amount, price)
    order_id = created["id"]
    fetch_params = {"acknowledged": True} if venue == "bybit-linear" else {}
    fetched = exchange.fetch_order(order_id, symbol, fetch_params)
    assert fetched["status"] == "open", fetched["status"]
    assert float(fetched["price"]) == price, (fetched["price"], price)
    assert float(fetched["amount"]) == amount, (fetched["amount"], amount)
    cancelled = exchange.cancel_order(order_id, symbol)
    after = exchange.fetch_order(order_id, symbol, fetch_params)
    assert after["status"] == "canceled", after["status"]
    print(
        json.dumps(
            {
                "venue": venue,
                "markets": len(markets),
                "symbol": market["symbol"],
                "best_bid": best_bid,
                "best_ask": best_ask,
                "order_id": order_id,
                "created_status": created.get("status"),
                "fetched_status": fetched["status"],
                "cancel_status": cancelled.get("status"),
                "final_status": after["status"],
                "price": price,
                "amount": amount,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line naming the ccxt error, then a failing exit
        print(f"ccxt against scalpel sim failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
