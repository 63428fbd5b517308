"""The engine's columns as seen from compiled code: typed arrays over their buffers.

The book keeps its columns in stdlib `array.array`s (`risk.book`), one set per symbol block.
A kernel that follows an account's positions across blocks cannot take a numpy view of every
column of every block at each call (a view costs about a microsecond, and a view exported
while Python appends would make the append fail). It takes instead the columns' buffer
addresses (`array.buffer_info`) in an int64 table, with their lengths, and reads and writes
them through typed arrays made here.

An address is valid until its column is resized. The engine makes again the addresses of
whatever may have been resized since the last call (`EngineState.book_addresses`) right before
each call; compiled code cannot resize a column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray
from numpy.typing import NDArray


def _address_as_pointer(_typing: object, address: types.Type) -> object:
    """Typing of an intrinsic: an integer buffer address as a void pointer (LLVM inttoptr)."""
    if not isinstance(address, types.Integer):
        return None

    def generate(_context: object, builder: Any, _signature: object, arguments: Any) -> object:
        return builder.inttoptr(arguments[0], cgutils.voidptr_t)

    return types.voidptr(address), generate


# `Engine.book_addresses`: risk.book.MARGIN_COLUMNS then POSITION_COLUMNS; per block
# BLOCK_COLUMNS then its rows.
MARGIN_FIELDS = 13
ROWS = 7
Columns = tuple[NDArray[Any], ...]  # typed arrays over the book's columns

_pointer = cast(Callable[[int], Any], intrinsic(_address_as_pointer))


@njit(cache=True, inline="always")
def float64s(address: int, length: int) -> NDArray[np.float64]:
    return carray(_pointer(address), length, np.float64)


@njit(cache=True, inline="always")
def float32s(address: int, length: int) -> NDArray[np.float32]:
    return carray(_pointer(address), length, np.float32)


@njit(cache=True, inline="always")
def int64s(address: int, length: int) -> NDArray[np.int64]:
    return carray(_pointer(address), length, np.int64)


@njit(cache=True, inline="always")
def int32s(address: int, length: int) -> NDArray[np.int32]:
    return carray(_pointer(address), length, np.int32)


@njit(cache=True, inline="always")
def int16s(address: int, length: int) -> NDArray[np.int16]:
    return carray(_pointer(address), length, np.int16)


@njit(cache=True, inline="always")
def int8s(address: int, length: int) -> NDArray[np.int8]:
    return carray(_pointer(address), length, np.int8)


@njit(cache=True, inline="always")
def margin_columns(book: NDArray[np.int64], count: int) -> Columns:
    """Typed arrays over the margin account columns (risk.book.MARGIN_COLUMNS, in order)."""
    return (
        int32s(book[0], count),  # account
        int8s(book[1], count),  # mode
        int32s(book[2], count),  # asset
        int32s(book[3], count),  # symbol
        int8s(book[4], count),  # side
        float64s(book[5], count),  # wallet
        float64s(book[6], count),  # equity
        float64s(book[7], count),  # maintenance
        int8s(book[8], count),  # level
        int32s(book[9], count),  # positions
        int32s(book[10], count),  # head
        int64s(book[11], count),  # balance seq
        int64s(book[12], count),  # balance ts
    )


@njit(cache=True, inline="always")
def position_columns(book: NDArray[np.int64], count: int) -> Columns:
    """Typed arrays over the position columns (risk.book.POSITION_COLUMNS, in order)."""
    first = MARGIN_FIELDS
    return (
        int32s(book[first], count),  # symbol
        int32s(book[first + 1], count),  # row
        int8s(book[first + 2], count),  # side
        int64s(book[first + 3], count),  # seq
        int64s(book[first + 4], count),  # ts
        int32s(book[first + 5], count),  # next
    )
