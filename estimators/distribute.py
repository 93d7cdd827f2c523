"""Data parallelism over devices and hosts, by jit's automatic partitioning.

`RunConfig(train_distribute=DataParallel())` puts the train state on every
device (replicated) and splits each batch along its first axis over a 1-d
device mesh; `jax.jit` partitions the step and inserts the gradient all-reduce
itself (no pmap, no change to the model_fn). A batch whose size is not a
multiple of the device count is padded and masked, so losses and metrics stay
exact.

Several hosts: start one process per host, call `initialize_multi_host(...)`
first thing in each, and give every process its own shard of the data (an
input_fn may take `input_context`). The mesh then spans the devices of all
processes, each process feeds its local batch, and only the chief (process 0)
writes checkpoints, metrics and exports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "DataParallel",
    "InputContext",
    "initialize_multi_host",
    "is_chief",
    "strategy_for",
]


def is_chief() -> bool:
    """Whether this process is the chief (process 0), the one that writes files."""
    return jax.process_index() == 0


def initialize_multi_host(
    coordinator_address: str,
    num_processes: int,
    process_id: int,
    *,
    coordinator_bind_address: str | None = None,
    local_device_ids: int | Sequence[int] | None = None,
    cpu_collectives: str | None = "gloo",
    **kwargs: Any,
) -> None:
    """Starts `jax.distributed` for one process of a multi-host run.

    Call it in every process before any other JAX work. Unlike
    `jax.distributed.initialize`, the coordinator listens only on the address
    it is reached at (`coordinator_address`, e.g. "127.0.0.1:7777" on one
    machine), never on all interfaces; pass `coordinator_bind_address` to
    choose another. CPU collectives use gloo, which works over loopback.

    Args:
        coordinator_address: "host:port" of process 0's coordinator service.
        num_processes: How many processes take part.
        process_id: This process's index (0 is the chief).
        coordinator_bind_address: Where the coordinator listens; default
            `coordinator_address`.
        local_device_ids: Restricts this process to these local devices.
        cpu_collectives: `jax_cpu_collectives_implementation` (None: leave it).
        **kwargs: Passed on to `jax.distributed.initialize` (e.g. timeouts).
    """
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        coordinator_bind_address=coordinator_bind_address or coordinator_address,
        **kwargs,
    )


@dataclasses.dataclass(frozen=True)
class InputContext:
    """What an `input_fn(input_context)` needs to read its shard (tf's names).

    Attributes:
        num_input_pipelines: How many processes read input (one per host).
        input_pipeline_id: This process's index among them.
        num_replicas_in_sync: How many devices share each global batch.
    """

    num_input_pipelines: int = 1
    input_pipeline_id: int = 0
    num_replicas_in_sync: int = 1

    def get_per_replica_batch_size(self, global_batch_size: int) -> int:
        """The batch size per device for a global batch size."""
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(
                f"the global batch size ({global_batch_size}) is not divisible by "
                f"the number of replicas ({self.num_replicas_in_sync})."
            )
        return global_batch_size // self.num_replicas_in_sync


@dataclasses.dataclass(frozen=True, eq=False)
class DataParallel:
    """Splits each batch over devices; keeps the train state on every device.

    Args:
        devices: The devices to use; default all devices (in a single-process
            run, `jax.local_devices()`; with `jax.distributed`, those of every
            process, so that gradients are averaged across hosts).
        axis_name: The mesh axis the batch is split along.

    Attributes:
        mesh: The 1-d `jax.sharding.Mesh` over `devices`.
        batch_sharding: `NamedSharding(mesh, P(axis_name))`, for `[batch, ...]`.
        stacked_sharding: `P(None, axis_name)`, for `[steps, batch, ...]` groups
            (`RunConfig.steps_per_execution`).
        replicated_sharding: `P()`, for the train state.
        local_device_count: The devices of this process in the mesh; a local
            batch is padded to a multiple of it.

    Example:
        >>> import estimators as est
        >>> strategy = est.distribute.DataParallel()
        >>> config = est.RunConfig(train_distribute=strategy)
        >>> strategy.num_devices == len(jax.devices())
        True
    """

    devices: Sequence[Any] | None = None
    axis_name: str = "data"
    mesh: Mesh = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.axis_name, str) or not self.axis_name:
            raise ValueError(
                f"DataParallel: `axis_name` must be a non-empty string, got "
                f"{self.axis_name!r}."
            )
        devices = jax.devices() if self.devices is None else self.devices
        if isinstance(devices, jax.Device):
            devices = [devices]
        devices = tuple(devices)
        if not devices:
            raise ValueError(
                "DataParallel: `devices` is empty; give at least one device (default:"
                " all of jax.devices())."
            )
        for i, device in enumerate(devices):
            if not isinstance(device, jax.Device):
                raise TypeError(
                    f"DataParallel: `devices[{i}]` must be a jax.Device, got "
                    f"{type(device).__name__} {device!r}."
                )
        if len(set(devices)) != len(devices):
            raise ValueError(
                f"DataParallel: `devices` lists a device more than once: "
                f"{[str(d) for d in devices]}."
            )
        platforms = sorted({d.platform for d in devices})
        if len(platforms) > 1:
            raise ValueError(
                f"DataParallel: `devices` mixes platforms {platforms}; give devices "
                "of one platform."
            )
        local = sum(d.process_index == jax.process_index() for d in devices)
        if local == 0:
            raise ValueError(
                f"DataParallel: none of the {len(devices)} devices belongs to this "
                f"process ({jax.process_index()}); each process must own some."
            )
        object.__setattr__(self, "devices", devices)
        object.__setattr__(
            self, "mesh", Mesh(np.array(devices, dtype=object), (self.axis_name,))
        )

    def __repr__(self) -> str:
        return f"DataParallel({self.num_devices} devices, axis_name={self.axis_name!r})"

    @property
    def num_devices(self) -> int:
        """All devices in the mesh (of every process)."""
        return len(self.devices)

    @property
    def local_device_count(self) -> int:
        """The devices of this process in the mesh."""
        return sum(d.process_index == jax.process_index() for d in self.devices)

    @property
    def multi_process(self) -> bool:
        """Whether the mesh spans several processes."""
        return len({d.process_index for d in self.devices}) > 1

    @property
    def batch_sharding(self) -> NamedSharding:
        """Splits the leading (batch) axis over the mesh."""
        return NamedSharding(self.mesh, P(self.axis_name))

    @property
    def stacked_sharding(self) -> NamedSharding:
        """Splits axis 1 of `[steps, batch, ...]` groups over the mesh."""
        return NamedSharding(self.mesh, P(None, self.axis_name))

    @property
    def replicated_sharding(self) -> NamedSharding:
        """A full copy on every device."""
        return NamedSharding(self.mesh, P())

    def input_context(self) -> InputContext:
        """The `InputContext` of this process."""
        return InputContext(
            num_input_pipelines=len({d.process_index for d in self.devices}),
            input_pipeline_id=jax.process_index(),
            num_replicas_in_sync=self.num_devices,
        )

    def padded_size(self, rows: int) -> int:
        """`rows` rounded up to a multiple of this process's device count."""
        n = self.local_device_count
        return max(-(-rows // n), 1) * n

    def replicate(self, tree: Any) -> Any:
        """Puts every array of `tree` on every device of the mesh.

        With several processes, the chief's values are the ones used everywhere
        (so a process that read an older checkpoint, or none, follows the chief).
        """
        sharding = self.replicated_sharding
        if not self.multi_process:
            return jax.device_put(tree, sharding)

        def put(value: np.ndarray) -> jax.Array:
            return jax.make_array_from_callback(
                value.shape, sharding, lambda index: value[index]
            )

        return jax.tree.map(put, self.broadcast(tree))

    def broadcast(self, tree: Any) -> Any:
        """The chief's values of a tree of host arrays, on every process (numpy)."""
        if not self.multi_process:
            return jax.tree.map(np.asarray, tree)
        from jax.experimental import multihost_utils

        return multihost_utils.broadcast_one_to_all(tree)

    def agree_any(self, flag: bool) -> bool:
        """Whether `flag` is true on any process (every process gets the answer).

        The training loop agrees each stop decision (a hook or listener asking,
        one process's input ending) this way, so that no process waits alone in
        a collective the others have left. One process: `flag` itself.
        """
        if not self.multi_process:
            return bool(flag)
        from jax.experimental import multihost_utils

        flags = multihost_utils.process_allgather(np.asarray(bool(flag), np.int32))
        return bool(np.any(flags))

    def shard_batch(self, tree: Any, stacked: bool = False) -> Any:
        """Splits this process's batch (or `[steps, batch]` group) over the mesh.

        With several processes the global batch is the concatenation of every
        process's local batch, in process order.
        """
        sharding = self.stacked_sharding if stacked else self.batch_sharding
        if not self.multi_process:
            return jax.device_put(tree, sharding)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
            tree,
        )

    def local(self, tree: Any) -> Any:
        """This process's rows of batch-sharded outputs, as numpy arrays."""
        return jax.tree.map(_local_rows, tree)


def _local_rows(x: Any) -> np.ndarray:
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    shards: dict[int, np.ndarray] = {}
    for shard in x.addressable_shards:
        start = (shard.index[0].start or 0) if shard.index else 0
        shards.setdefault(start, np.asarray(shard.data))
    return np.concatenate([shards[k] for k in sorted(shards)])


def strategy_for(strategy: Any, field: str) -> DataParallel | None:
    """Checks a `RunConfig` distribution field; returns it or None."""
    if strategy is None or isinstance(strategy, DataParallel):
        return strategy
    raise TypeError(
        f"RunConfig.{field} must be an est.distribute.DataParallel or None, got "
        f"{type(strategy).__name__}."
    )
