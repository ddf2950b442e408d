/* A stand-in for libnvidia-ml.so.1 exporting the few NVML functions sweep calls, so the real
 * nvml-wrapper path (dlopen, init, enumerate, memory) runs in tests on machines without GPUs.
 * FAKE_NVML_GPUS sets the device count (default 2), FAKE_NVML_TOTAL_MIB the memory of each
 * (default 24576) and FAKE_NVML_FREE_MIB the free memory (default: all of it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int index; } device_t;
static device_t devices[64];

typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } memory_v2_t;
typedef struct { unsigned int gpu, memory; } utilization_t;

static unsigned long long env_mib(const char *name, unsigned long long fallback) {
    const char *v = getenv(name);
    return v ? strtoull(v, NULL, 10) : fallback;
}

int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    snprintf(version, length, "570.00");
    return 0;
}
int nvmlDeviceGetCount_v2(unsigned int *count) {
    *count = (unsigned int)env_mib("FAKE_NVML_GPUS", 2);
    return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, device_t **device) {
    if (index >= 64) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    devices[index].index = (int)index;
    *device = &devices[index];
    return 0;
}
int nvmlDeviceGetMemoryInfo_v2(device_t *device, memory_v2_t *memory) {
    (void)device;
    unsigned long long total = env_mib("FAKE_NVML_TOTAL_MIB", 24576) << 20;
    unsigned long long free = env_mib("FAKE_NVML_FREE_MIB", total >> 20) << 20;
    memory->total = total;
    memory->reserved = 0;
    memory->free = free;
    memory->used = total - free;
    return 0;
}
int nvmlDeviceGetUUID(device_t *device, char *uuid, unsigned int length) {
    snprintf(uuid, length, "GPU-fake-%d", device->index);
    return 0;
}
int nvmlDeviceGetName(device_t *device, char *name, unsigned int length) {
    (void)device;
    snprintf(name, length, "Fake GPU");
    return 0;
}
int nvmlDeviceGetUtilizationRates(device_t *device, utilization_t *rates) {
    (void)device;
    rates->gpu = 0;
    rates->memory = 0;
    return 0;
}
