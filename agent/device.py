"""GPU discovery with nvidia-ml-py (NVML): name, memory, utilisation and
driver of each GPU. Without the library, a driver or a GPU, the agent
reports one CPU device and carries on; it says so once in the log."""

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("vcoin.agent")


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu"
    index: int
    name: str
    memory_mb: int
    utilization_pct: int
    driver: str


def _cpu() -> Device:
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return Device("cpu", 0, f"CPU ({os.cpu_count()} cores)", memory_mb, 0, "")


def discover() -> list[Device]:
    try:
        import pynvml
    except ImportError:
        log.info("nvidia-ml-py is not installed: running jobs on the CPU")
        return [_cpu()]
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        log.info("no NVIDIA driver or GPU (%s): running jobs on the CPU", exc)
        return [_cpu()]
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            devices.append(Device(
                "cuda", index, name.decode() if isinstance(name, bytes) else str(name),
                int(memory.total) // (1 << 20), int(utilization.gpu),
                driver.decode() if isinstance(driver, bytes) else str(driver),
            ))  # fmt: skip
    finally:
        pynvml.nvmlShutdown()
    if not devices:
        log.info("the NVIDIA driver reports no GPU: running jobs on the CPU")
        return [_cpu()]
    return devices
