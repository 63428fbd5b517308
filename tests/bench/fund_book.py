"""The fund benchmarks' book (tests/bench/fund_bench.py's docstring), built as an `Exposure`
and a `Market` straight from numpy."""

from __future__ import annotations

import math

import numpy as np

from risk.fund import FundParameters
from risk.fund.exposure import Exposure, sum_by
from risk.fund.snapshot import Market
from risk.instruments import DEFAULT_TIERS
from tests.bench.books import LEVERAGE_WEIGHTS, LEVERAGES

LEVERAGE_SHARES = np.array(LEVERAGE_WEIGHTS) / sum(LEVERAGE_WEIGHTS)


def synthetic_exposure(accounts: int, symbols: int, seed: int = 5) -> Exposure:
    """The benchmark book (module docstring), as the projection sees it."""
    rng = np.random.default_rng(seed)
    coins = max(1, symbols // 10)
    linear = symbols - coins
    inverse = np.arange(symbols) >= linear  # the last tenth: coin-margined, one coin each
    symbol_asset = np.where(inverse, np.arange(symbols) - linear + 1, 0)
    marks = np.exp(rng.uniform(0.0, math.log(60_000.0), symbols))
    contract_size = np.where(inverse, 100.0, 1.0)
    in_coin = rng.random(accounts) < 0.08
    held = np.where(in_coin | (rng.random(accounts) < 0.8), 1, rng.integers(2, 5, accounts))
    owner = np.repeat(np.arange(accounts), held)
    popularity = rng.zipf(1.3, linear * 4) % linear  # a few symbols hold most positions
    symbol = popularity[rng.integers(0, len(popularity), len(owner))]
    symbol = _distinct_per_account(owner, symbol, linear, rng)
    coin_symbol = linear + rng.integers(0, coins, accounts)
    symbol = np.where(in_coin[owner], coin_symbol[owner], symbol)
    usd = np.minimum(rng.lognormal(math.log(5_000.0), 1.4, len(owner)), 5e6)
    mark = marks[symbol]
    is_inverse = inverse[symbol]
    notional = np.where(is_inverse, usd / mark, usd)  # in the settle asset
    direction = np.where(rng.random(len(owner)) < 0.5, 1.0, -1.0)
    size = np.where(is_inverse, usd / contract_size[symbol], usd / mark) * direction
    entry = mark * (1.0 + rng.normal(0.0, 0.02, len(owner)))
    exposure = size * contract_size[symbol]
    pnl = np.where(is_inverse, exposure * (1.0 / entry - 1.0 / mark), exposure * (mark - entry))
    leverage = rng.choice(LEVERAGES, len(owner), p=LEVERAGE_SHARES)
    margin = notional / leverage * (1.0 + rng.exponential(0.5, len(owner)))
    wallet = sum_by(owner, margin - pnl, accounts)
    first_symbol = symbol[np.searchsorted(owner, np.arange(accounts))]
    return Exposure(
        symbols=tuple(f"S{index:03d}" for index in range(symbols)),
        assets=("USDT", *(f"C{index:02d}" for index in range(coins))),
        symbol_asset=symbol_asset.astype(np.intp),
        inverse=inverse,
        contract_size=contract_size,
        beta=rng.uniform(0.6, 2.0, symbols),
        mark=marks,
        account_asset=symbol_asset[first_symbol].astype(np.intp),
        wallet=wallet,
        account_ref=np.arange(accounts, dtype=np.intp),
        owner=(np.cumsum(rng.random(accounts) >= 0.1) - 1).astype(np.intp),  # 10% share one
        position_account=owner.astype(np.intp),
        position_symbol=symbol.astype(np.intp),
        size=size,
        entry=entry,
        price=mark,
        pnl=pnl,
        maintenance=notional * 0.005,
    )


def _distinct_per_account(
    owner: np.ndarray, symbol: np.ndarray, symbols: int, rng: np.random.Generator
) -> np.ndarray:
    """Re-draw a symbol an account already holds, until each account's symbols differ."""
    for _ in range(50):
        pair = owner * symbols + symbol
        order = np.argsort(pair, kind="stable")
        duplicate = np.zeros(len(pair), dtype=bool)
        duplicate[order[1:]] = pair[order[1:]] == pair[order[:-1]]
        if not duplicate.any():
            break
        symbol[duplicate] = rng.integers(0, symbols, int(duplicate.sum()))
    return symbol


def synthetic_market(exposure: Exposure, paths: int) -> Market:
    """Marks and instruments of the book; a one-factor covariance, about 4.5% a day."""
    symbols = len(exposure.symbols)
    rng = np.random.default_rng(3)
    factor = rng.normal(1.0, 0.2, symbols) * 0.0009  # a market factor, ~3.4% a day
    idiosyncratic = rng.uniform(0.0006, 0.0010, symbols)  # ~2.3-3.8% a day
    return Market(
        at=1,
        parameters=FundParameters(paths=paths, seed=1),
        symbols=exposure.symbols,
        settle=tuple(exposure.assets[index] for index in exposure.symbol_asset),
        inverse=exposure.inverse,
        contract_size=exposure.contract_size,
        beta=exposure.beta,
        marks=exposure.mark,
        names=exposure.symbols,  # already in name order
        covariance=np.outer(factor, factor) + np.diag(idiosyncratic**2),
        balances={},
        drawdowns={},
        books={},
        tiers=(DEFAULT_TIERS,) * symbols,
    )
