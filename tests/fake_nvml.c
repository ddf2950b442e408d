/* A stand-in for libnvidia-ml.so.1 exporting the few NVML functions sweep calls, so the real
 * nvml-wrapper path (dlopen, init, enumerate, memory) runs in tests on machines without GPUs.
 * FAKE_NVML_GPUS sets the device count (default 2), FAKE_NVML_TOTAL_MIB the memory of each
 * (default 24576) and FAKE_NVML_FREE_MIB the free memory (default: all of it).
 * Each device lists two compute processes: pid 1 holding FAKE_NVML_OTHER_MIB (default 512),
 * another user's, and, when FAKE_NVML_PROCESS_MIB is set, the calling process itself holding
 * that much (a worker asks about itself: the environment it inherits scripts its usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

typedef struct { unsigned int pid; unsigned long long used; unsigned int gpu_instance, compute_instance; } process_v2_t;

int nvmlDeviceGetComputeRunningProcesses_v3(device_t *device, unsigned int *count, process_v2_t *infos) {
    (void)device;
    process_v2_t all[2];
    unsigned int n = 0;
    all[n++] = (process_v2_t){1, env_mib("FAKE_NVML_OTHER_MIB", 512) << 20, 0xFFFFFFFFu, 0xFFFFFFFFu};
    if (getenv("FAKE_NVML_PROCESS_MIB"))
        all[n++] = (process_v2_t){(unsigned int)getpid(), env_mib("FAKE_NVML_PROCESS_MIB", 0) << 20,
                                  0xFFFFFFFFu, 0xFFFFFFFFu};
    if (infos == NULL || *count < n) {
        *count = n;
        return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    }
    memcpy(infos, all, n * sizeof(process_v2_t));
    *count = n;
    return 0;
}
