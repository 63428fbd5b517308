"""A frozen copy of the open book's money, the input of every fund projection.

Rows are open positions; margin accounts are renumbered 0..A-1 over the accounts that hold
positions (an account without positions owes nothing to the fund). Each row keeps the engine's
cached uPnL and maintenance margin, and its valuation price (the mark, or the entry price while
the symbol has no mark), so a projection sees exactly the numbers the levels were decided on.

Per position j of size s, contract size cs, valuation price P, entry EP, a shock multiplies P
by m. Its uPnL is then affine in g = m (linear) or g = 1/m (inverse):

    linear    uPnL_j(m) = s*cs*P * m   - s*cs*EP          c_j = s*cs*P,  k_j = -s*cs*EP
    inverse   uPnL_j(m) = -s*cs/P / m  + s*cs/EP          c_j = -s*cs/P, k_j =  s*cs/EP

so an account's equity at the shock is  K_a + sum_j c_j * g_j  with  K_a = wallet + sum_j k_j.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from risk.book import float_view, int32_view

if TYPE_CHECKING:
    from risk.engine import Engine

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]
_Columns = TypeVar("_Columns", bound=tuple[Any, ...])


def fieldwise_sum(first: _Columns, second: object) -> _Columns:
    """Two additive shares of the same kind (NamedTuples of arrays), added field by field."""
    assert type(second) is type(first)
    return type(first)(*(mine + theirs for mine, theirs in zip(first, second, strict=True)))


def prefix_sums(values: FloatArray) -> FloatArray:
    """Prefix sums along the last axis, starting at 0 (one more entry than `values`)."""
    zeros = np.zeros((*values.shape[:-1], 1))
    return np.concatenate((zeros, np.cumsum(values, axis=-1)), axis=-1)


def sum_by(index: IndexArray, weights: FloatArray, length: int = 0) -> FloatArray:
    """sum of `weights` per value of `index` (np.bincount with weights, typed)."""
    return cast(FloatArray, np.bincount(index, weights=weights, minlength=length))


@dataclass(frozen=True, slots=True, eq=False)
class Exposure:
    """Symbols (S), tracked margin accounts (A) and open positions (P) as aligned arrays."""

    symbols: tuple[str, ...]
    assets: tuple[str, ...]
    symbol_asset: IndexArray  # S: index into assets
    inverse: NDArray[np.bool_]  # S
    contract_size: FloatArray  # S
    beta: FloatArray  # S
    mark: FloatArray  # S: NaN without a mark
    account_asset: IndexArray  # A
    wallet: FloatArray  # A
    account_ref: IndexArray  # A: the engine's margin account index
    owner: IndexArray  # A: the account that owns it (the engine's account index)
    position_account: IndexArray  # P
    position_symbol: IndexArray  # P
    size: FloatArray  # P
    entry: FloatArray  # P
    price: FloatArray  # P: valuation price
    pnl: FloatArray  # P
    maintenance: FloatArray  # P

    @property
    def accounts(self) -> int:
        return len(self.wallet)

    def slope_and_constant(self) -> tuple[FloatArray, FloatArray]:
        """(c_j, k_j) of every position (module docstring)."""
        exposure = self.size * self.contract_size[self.position_symbol]
        inverse = self.inverse[self.position_symbol]
        slope = np.where(inverse, -exposure / self.price, exposure * self.price)
        constant = np.where(inverse, exposure / self.entry, -exposure * self.entry)
        return slope, constant

    def equity(self) -> FloatArray:
        """Each tracked account's equity at the current marks: wallet + sum uPnL."""
        return self.wallet + sum_by(self.position_account, self.pnl, self.accounts)

    def account_maintenance(self) -> FloatArray:
        return sum_by(self.position_account, self.maintenance, self.accounts)

    def notional(self) -> FloatArray:
        """|s|*cs*P (linear) or |s|*cs/P (inverse), at the valuation price."""
        quantity = np.abs(self.size) * self.contract_size[self.position_symbol]
        inverse = self.inverse[self.position_symbol]
        return np.where(inverse, quantity / self.price, quantity * self.price)

    def entry_notional(self) -> FloatArray:
        quantity = np.abs(self.size) * self.contract_size[self.position_symbol]
        inverse = self.inverse[self.position_symbol]
        return np.where(inverse, quantity / self.entry, quantity * self.entry)


class AccountOrder(NamedTuple):
    """One asset's positions gathered margin account by margin account."""

    positions: IndexArray  # rows of the exposure, in account order
    accounts: IndexArray  # the accounts holding them, ascending
    first: IndexArray  # where each account's positions start in `positions`
    counts: IndexArray  # how many each holds


def account_order(exposure: Exposure, asset: str) -> AccountOrder:
    """The positions of the accounts settling in `asset`, in account order."""
    index = exposure.assets.index(asset) if asset in exposure.assets else -1
    positions = np.flatnonzero(exposure.account_asset[exposure.position_account] == index)
    positions = positions[np.argsort(exposure.position_account[positions], kind="stable")]
    accounts, first, counts = np.unique(
        exposure.position_account[positions], return_index=True, return_counts=True
    )
    return AccountOrder(positions, accounts, first, counts)


def exposure_of(engine: Engine) -> Exposure:
    """Copy the engine's open book at the current marks (the copy does not change when the
    engine does)."""
    instruments = engine.instruments
    columns: dict[str, list[NDArray[np.generic]]] = {
        name: [] for name in ("account", "symbol", "size", "entry", "pnl", "maintenance", "price")
    }
    for symbol, block in enumerate(engine.blocks):
        rows = len(block)
        if not rows:
            continue
        entry = float_view(block.entry).copy()
        mark = engine.marks[symbol]
        columns["account"].append(int32_view(block.account).astype(np.intp))
        columns["symbol"].append(np.full(rows, symbol, dtype=np.intp))
        columns["size"].append(float_view(block.size).copy())
        columns["entry"].append(entry)
        pnl, maintenance = engine.current_values(symbol)
        columns["pnl"].append(pnl)
        columns["maintenance"].append(maintenance)
        columns["price"].append(entry.copy() if mark is None else np.full(rows, mark))
    merged = {
        name: np.concatenate(parts) if parts else np.zeros(0, dtype=_DTYPES[name])
        for name, parts in columns.items()
    }
    account_ref, position_account = np.unique(merged["account"], return_inverse=True)
    margin = engine.margin
    asset_names = tuple(engine.asset_names)
    return Exposure(
        symbols=tuple(instrument.symbol for instrument in instruments),
        assets=asset_names,
        symbol_asset=np.array(engine.settle_assets, dtype=np.intp),
        inverse=np.array([i.kind == "inverse" for i in instruments], dtype=np.bool_),
        contract_size=np.array([i.contract_size for i in instruments], dtype=np.float64),
        beta=np.array([i.beta for i in instruments], dtype=np.float64),
        mark=np.array([np.nan if m is None else m for m in engine.marks], dtype=np.float64),
        account_asset=int32_view(margin.asset)[account_ref].astype(np.intp),
        wallet=float_view(margin.wallet)[account_ref].copy(),
        account_ref=account_ref.astype(np.intp),
        owner=int32_view(margin.account)[account_ref].astype(np.intp),
        position_account=position_account.astype(np.intp),
        position_symbol=merged["symbol"].astype(np.intp),
        size=merged["size"],
        entry=merged["entry"],
        price=merged["price"],
        pnl=merged["pnl"],
        maintenance=merged["maintenance"],
    )


_DTYPES = {
    "account": np.intp,
    "symbol": np.intp,
    "size": np.float64,
    "entry": np.float64,
    "pnl": np.float64,
    "maintenance": np.float64,
    "price": np.float64,
}
