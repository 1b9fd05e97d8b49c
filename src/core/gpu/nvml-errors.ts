/** NVML return codes (nvml.h) and their names, as VRAM Guard reports them. */
export const NvmlReturn = {
  SUCCESS: 0,
  UNINITIALIZED: 1,
  INVALID_ARGUMENT: 2,
  NOT_SUPPORTED: 3,
  NO_PERMISSION: 4,
  ALREADY_INITIALIZED: 5,
  NOT_FOUND: 6,
  INSUFFICIENT_SIZE: 7,
  INSUFFICIENT_POWER: 8,
  DRIVER_NOT_LOADED: 9,
  TIMEOUT: 10,
  IRQ_ISSUE: 11,
  LIBRARY_NOT_FOUND: 12,
  FUNCTION_NOT_FOUND: 13,
  CORRUPTED_INFOROM: 14,
  GPU_IS_LOST: 15,
  RESET_REQUIRED: 16,
  OPERATING_SYSTEM: 17,
  LIB_RM_VERSION_MISMATCH: 18,
  IN_USE: 19,
  MEMORY: 20,
  NO_DATA: 21,
  VGPU_ECC_NOT_ENABLED: 22,
  INSUFFICIENT_RESOURCES: 23,
  FREQ_NOT_SUPPORTED: 24,
  ARGUMENT_VERSION_MISMATCH: 25,
  DEPRECATED: 26,
  NOT_READY: 27,
  GPU_NOT_FOUND: 28,
  INVALID_STATE: 29,
  UNKNOWN: 999,
} as const;

const namesByCode = new Map<number, string>(Object.entries(NvmlReturn).map(([name, code]) => [code, name]));

export function nvmlReturnName(rc: number): string {
  return namesByCode.get(rc) ?? `ERROR_${rc}`;
}

/** What a person can do about a failure, where there is something to do. */
export function nvmlAdvice(rc: number): string {
  switch (rc) {
    case NvmlReturn.DRIVER_NOT_LOADED:
      return 'The NVIDIA kernel driver is not loaded: check `nvidia-smi`, or reinstall the driver.';
    case NvmlReturn.NO_PERMISSION:
      return 'The user lacks permission for this NVML query (containers and some clusters restrict it).';
    case NvmlReturn.GPU_IS_LOST:
      return 'The GPU fell off the bus or stopped answering; it usually needs a reset or a reboot.';
    case NvmlReturn.LIB_RM_VERSION_MISMATCH:
      return 'libnvidia-ml and the kernel driver are different versions: reboot after a driver update.';
    case NvmlReturn.NO_DATA:
      return 'The driver has no data for this query yet.';
    default:
      return '';
  }
}
