"""Queries over the book: account views, rankings, counts, and levels put back on restore."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from risk.book import (
    MODES,
    NO_POSITION,
    int8_view,
    int32_view,
    int64_view,
)
from risk.engine.evaluation import Evaluation
from risk.engine.forgetting import Forgetting
from risk.engine.state import KEY_SPAN, SIDE_CODES
from risk.levels import LEVEL_NAMES, Level, margin_ratio
from risk.records import AccountView


class Queries(Forgetting, Evaluation):
    """What the replay summary, the HTTP API and the metrics read."""

    def account_view(self, account: int) -> AccountView:
        """The account at the current marks, with its positions' prices."""
        margin = self.margin
        equity, maintenance, views = self.account_values(account)
        return AccountView(
            margin_account=self.margin_account_id(account),
            account=self.account_names[margin.account[account]],
            mode=MODES[margin.mode[account]],
            settle=self.asset_names[margin.asset[account]],
            wallet=margin.wallet[account],
            equity=equity,
            maintenance_margin=maintenance,
            margin_ratio=margin_ratio(equity, maintenance),
            level=LEVEL_NAMES[margin.level[account]],
            positions=views,
        )

    def find_margin_account(self, margin_account_id: str) -> int | None:
        """The index of a margin account by its SPEC §4 id, or None when there is none (or the
        retention rule has forgotten it)."""
        found = self._find_margin_account(margin_account_id)
        if found is None or self._forgotten(found, self.watermark(self.margin.account[found])):
            return None
        return found

    def _find_margin_account(self, margin_account_id: str) -> int | None:
        parts = margin_account_id.split("/")
        account = self.accounts_by_name.get(parts[0])
        if account is None or len(parts) < 3:
            return None
        if parts[1] == "cross" and len(parts) == 3:
            asset = self.assets_by_name.get(parts[2])
            return None if asset is None else self.cross_accounts.get(account * KEY_SPAN + asset)
        symbol = self.symbols.get(parts[2])
        side = parts[3] if len(parts) == 4 else "both"
        if parts[1] != "isolated" or symbol is None or len(parts) > 4:
            return None
        if side not in SIDE_CODES or (len(parts) == 4 and side == "both"):
            return None
        return self.isolated_accounts.get((account * KEY_SPAN + symbol) * 3 + SIDE_CODES[side])

    def worst_accounts(self, minimum: Level, limit: int) -> list[int]:
        """Tracked margin accounts at level `minimum` or above, worst first.

        Order: higher level first; within `bankrupt`, the most negative equity first; within
        the other levels, the highest margin ratio (maintenance margin / equity) first; then
        by margin account id, so every worker ranks ties alike.
        """
        margin = self.margin
        levels = int8_view(margin.level).astype(np.int64)
        chosen = np.flatnonzero((int32_view(margin.positions) > 0) & (levels >= minimum))
        if not len(chosen):
            return []
        all_equity, all_maintenance = self.current_totals()
        equity, maintenance = all_equity[chosen], all_maintenance[chosen]
        bankrupt = levels[chosen] == Level.BANKRUPT
        with np.errstate(divide="ignore", invalid="ignore"):
            badness = np.where(bankrupt, -equity, maintenance / equity)
        keys = list(zip((-levels[chosen]).tolist(), (-badness).tolist(), strict=True))
        order = np.lexsort((-badness, -levels[chosen])).tolist()
        cut = min(limit, len(order))
        while 0 < cut < len(order) and keys[order[cut]] == keys[order[cut - 1]]:
            cut += 1  # ties at the boundary: the id decides below
        ranked = sorted(
            order[:cut], key=lambda row: (keys[row], self.margin_account_id(int(chosen[row])))
        )
        return [int(chosen[row]) for row in ranked[:limit]]

    def tracked_accounts(self) -> list[int]:
        """Indices of margin accounts holding positions, ordered by margin account id."""
        holding = np.flatnonzero(int32_view(self.margin.positions) > 0).tolist()
        return sorted(holding, key=self.margin_account_id)

    def level_counts(self) -> dict[str, int]:
        """Tracked margin accounts per level."""
        tracked = int32_view(self.margin.positions) > 0
        counts = np.bincount(int8_view(self.margin.level)[tracked], minlength=len(LEVEL_NAMES))
        return {name: int(count) for name, count in zip(LEVEL_NAMES, counts, strict=True)}

    # -- restore -------------------------------------------------------------------------------

    def restore_levels(
        self, levels: Mapping[str, tuple[str, int]], replay_time: int | Sequence[int]
    ) -> None:
        """Set every margin account's level and transition count after a restore.

        `levels` maps margin account id to (level name, transitions so far). An account the
        map does not name is `safe` with no transitions. Counts of accounts that hold nothing
        now are carried until the account opens again, so its event ids go on counting.
        Free slots are skipped; what the retention rule has forgotten at `replay_time` (one
        for every shard, or one per shard) is then reclaimed, as a worker that never stopped
        would have.
        """
        held = np.flatnonzero(int32_view(self.margin.account) != NO_POSITION).tolist()
        self.carried_counts = self._set_levels(held, levels)
        if isinstance(replay_time, int):
            self.replay_time = replay_time
        else:
            self.replay_times = list(replay_time)
        self.reclaim()

    def _set_levels(
        self, accounts: Sequence[int], levels: Mapping[str, tuple[str, int]]
    ) -> dict[str, int]:
        """Level and transition count of each of these margin accounts from `levels` (by
        margin account id; `safe` with none when it is not named); the counts above 0 of the
        ids left over, which name accounts holding nothing now (to be carried)."""
        margin = self.margin
        chosen = np.asarray(accounts, dtype=np.int64)
        int8_view(margin.level)[chosen] = 0
        int64_view(margin.transitions)[chosen] = 0
        member = np.zeros(len(margin), dtype=np.bool_)
        member[chosen] = True
        carried = {}
        for identity, (name, count) in levels.items():  # ids are looked up, not formatted
            found = self._find_margin_account(identity)
            if found is not None and member[found] and self.margin_account_id(found) == identity:
                margin.level[found] = LEVEL_NAMES.index(name)
                margin.transitions[found] = count
            elif count:
                carried[identity] = count
        return carried
