/*
 * fuzz_input: the bits of fuzz_proto's input format (see the top of
 * fuzz_proto.c), shared with make_corpus, which writes inputs in it.
 */
#ifndef SHMPOOL_FUZZ_INPUT_H
#define SHMPOOL_FUZZ_INPUT_H

#define SETUP_HELLO 0x10u                       /* setup byte: hello on every connection */
#define OP_CONN_B 0x01u
#define OP_RECONNECT 0x02u
#define OP_FIXUP 0x04u
#define OP_NO_READ 0x08u
#define OP_PASS_FD 0x10u
#define OP_WAIT_TIMER 0x20u
#define OP_RING (OP_NO_READ | OP_PASS_FD)       /* into the free ring, then a kick */
#define OP_CALL (OP_RING | OP_WAIT_TIMER)       /* into the call slot, then served */
#define OP_HISTORY_SHIFT 6                      /* which earlier grant a fix-up uses */
#define LEN_MASK 0x1fffu
#define LEN_REPEAT_SHIFT 13

#endif
