/* ratelimit.h - a token bucket per sender address: at most rate alerts a second, bursts
 * up to burst, then refusals (counted by the caller).
 *
 * Keyed by the address alone (a sender's source port changes with every socket). The table
 * is bounded: past max senders, the new ones share one overflow bucket, so a spoofed flood
 * from many addresses cannot grow memory nor starve the senders already known. Loop
 * thread only.
 */
#ifndef INJECTOR_RATELIMIT_H
#define INJECTOR_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ratelimit;

/* rate alerts/s per sender, burst tokens at most (0: rate). max senders tracked (0: 65536).
 * Returns 0 and *out, or -ENOMEM. */
int ratelimit_new(double rate, double burst, size_t max, struct ratelimit **out);
void ratelimit_free(struct ratelimit *r);

/* Change rate and burst (SIGHUP); buckets keep their tokens, capped at the new burst. */
void ratelimit_set(struct ratelimit *r, double rate, double burst);

/* Take n tokens for an alert batch from addr at mono_ms. Returns how many of the n may
 * pass (the first ones in the batch). */
size_t ratelimit_take(struct ratelimit *r, const struct sockaddr *addr, size_t n, int64_t mono_ms);

#endif
