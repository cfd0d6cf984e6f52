/*
 * The FSM adapter's snapshot buffers, once raft has stored them (or given
 * up): wiped and freed, those of CS_FSM_RELEASE_OFF_LOOP bytes and more on
 * the threadpool of the adapter's loop (cs_fsm_adapter_set_loop), the rest
 * and any whose job cannot be queued on the calling thread. Frees `arr`.
 */
#ifndef CS_CONSENSUS_FSM_RELEASE_H
#define CS_CONSENSUS_FSM_RELEASE_H

#include "consensus/fsm.h"

void cs_fsm_wipe_free_bufs(cs_fsm_adapter *a, struct raft_buffer *arr, unsigned n);

#endif
