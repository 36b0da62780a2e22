// step_ledger.cu: a training step's outcome kept on the device, so that the host reads it only when it logs. The ledger is
// doubles (Backends/StepLedgerLayout.cs names the same slots): [0] AdamW updates applied (t), [1] steps applied (the
// learning rate schedule's position), [2] 1 when the last closed step was skipped, [3] the open step's loss, [4] the last
// applied step's loss, [5] the last closed step's squared gradient norm, [6] skipped steps recorded so far, [7] unused;
// then a ring of `capacity` records of 3 doubles per skipped step: steps applied before it, its loss, its squared norm.
// accumulate_loss: loss = (first ? 0 : loss) + micro_loss / accumulation, the host's running mean in double.
// close_step: a step whose loss or squared norm is not finite (x - x is NaN) is skipped and recorded, else both counts
// advance. Each is one thread on a few doubles, ordered on the stream between the backward pass and AdamW.
#include "common.cuh"

#define LEDGER_UPDATES 0
#define LEDGER_STEPS 1
#define LEDGER_SKIPPED 2
#define LEDGER_LOSS 3
#define LEDGER_APPLIED_LOSS 4
#define LEDGER_SUM_SQUARES 5
#define LEDGER_RECORDS 6
#define LEDGER_HEADER 8
#define LEDGER_RECORD 3

template <typename T> __device__ void accumulate_loss(const T* loss, double* ledger, int accumulation, int first)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double prior = first ? 0.0 : ledger[LEDGER_LOSS];
    ledger[LEDGER_LOSS] = prior + (double)loss[0] / accumulation;
}

template <typename T> __device__ void close_step(const T* sum_squares, double* ledger, int capacity)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double loss = ledger[LEDGER_LOSS];
    double norm2 = (double)sum_squares[0];
    ledger[LEDGER_SUM_SQUARES] = norm2;
    bool finite = loss - loss == 0.0 && norm2 - norm2 == 0.0;
    ledger[LEDGER_SKIPPED] = finite ? 0.0 : 1.0;
    if (finite)
    {
        ledger[LEDGER_UPDATES] += 1.0;
        ledger[LEDGER_STEPS] += 1.0;
        ledger[LEDGER_APPLIED_LOSS] = loss;
        return;
    }
    long long record = (long long)ledger[LEDGER_RECORDS];
    double* at = ledger + LEDGER_HEADER + (record % capacity) * LEDGER_RECORD;
    at[0] = ledger[LEDGER_STEPS];
    at[1] = loss;
    at[2] = norm2;
    ledger[LEDGER_RECORDS] = (double)(record + 1);
}

extern "C" __global__ void accumulate_loss_f32(const float* loss, double* ledger, int accumulation, int first) { accumulate_loss<float>(loss, ledger, accumulation, first); }
extern "C" __global__ void accumulate_loss_f64(const double* loss, double* ledger, int accumulation, int first) { accumulate_loss<double>(loss, ledger, accumulation, first); }
extern "C" __global__ void close_step_f32(const float* sum_squares, double* ledger, int capacity) { close_step<float>(sum_squares, ledger, capacity); }
extern "C" __global__ void close_step_f64(const double* sum_squares, double* ledger, int capacity) { close_step<double>(sum_squares, ledger, capacity); }
