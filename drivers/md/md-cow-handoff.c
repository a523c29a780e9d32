// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-handoff.c - how mdadm names the origin of a cow array that is about
 * to start, without writing to the dirty device.
 *
 * The origin carries no md superblock, so md does not pass it to the
 * personality: mdadm finds it and must say which device it is, and device
 * numbers change between boots.  It writes "UUID MAJOR:MINOR" (the array's
 * uuid as 32 hex digits, in md's byte order) to the module parameter
 * "origin" before it starts the array; the entry waits in a small table
 * until the array with that uuid starts and takes it.  Nothing is written
 * to the dirty device, so a read-only assembly stays read-only.  An array
 * started without an entry (an mdadm older than this interface) falls back
 * to the handoff block on the dirty device (md-cow-metadata.c).
 *
 * The table holds COW_HANDOFF_SLOTS entries; a new uuid replaces the oldest
 * entry when it is full.  Entries are used within seconds of being written;
 * one older than COW_HANDOFF_TTL (left by an assembly that failed) is not
 * used.  Either way the kernel checks the device against the recorded size
 * and fingerprint before using it.
 */
#include <linux/hex.h>
#include <linux/jiffies.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/string.h>

#include "md-cow-handoff.h"

#define COW_HANDOFF_SLOTS	64
#define COW_UUID_LEN		16
/* mdadm starts the array right after naming its origin: a minute is ample */
#define COW_HANDOFF_TTL		(60 * HZ)

/**
 * struct cow_handoff - one origin named by mdadm
 * @uuid: the array's uuid
 * @dev: the origin's device number
 * @stamp: jiffies when written: the oldest entry is replaced first
 * @used: the slot holds an entry
 */
struct cow_handoff {
	u8 uuid[COW_UUID_LEN];
	dev_t dev;
	unsigned long stamp;
	bool used;
};

static DEFINE_MUTEX(cow_handoff_lock);
/* All entries: under cow_handoff_lock. */
static struct cow_handoff cow_handoffs[COW_HANDOFF_SLOTS];

/* Has the entry waited too long to be meant for the coming start? */
static bool cow_handoff_expired(const struct cow_handoff *h)
{
	return time_after(jiffies, h->stamp + COW_HANDOFF_TTL);
}

/* "UUID MAJOR:MINOR", an optional newline, nothing else. */
static int cow_handoff_parse(const char *val, u8 *uuid, dev_t *dev)
{
	unsigned int major, minor;
	char num[2][12];
	const char *p, *colon, *end;
	size_t len;

	if (strnlen(val, 2 * COW_UUID_LEN + 1) <= 2 * COW_UUID_LEN ||
	    val[2 * COW_UUID_LEN] != ' ' || hex2bin(uuid, val, COW_UUID_LEN))
		return -EINVAL;
	p = val + 2 * COW_UUID_LEN + 1;
	end = p + strcspn(p, "\n");
	if (*end && strcmp(end, "\n"))
		return -EINVAL;
	colon = strnchr(p, end - p, ':');
	if (!colon)
		return -EINVAL;
	len = colon - p;
	if (!len || len >= sizeof(num[0]))
		return -EINVAL;
	memcpy(num[0], p, len);
	num[0][len] = '\0';
	len = end - colon - 1;
	if (!len || len >= sizeof(num[1]))
		return -EINVAL;
	memcpy(num[1], colon + 1, len);
	num[1][len] = '\0';
	if (kstrtouint(num[0], 10, &major) || kstrtouint(num[1], 10, &minor))
		return -EINVAL;
	if (major >= (1U << (32 - MINORBITS)) || minor > MINORMASK ||
	    (!major && !minor))
		return -EINVAL;
	*dev = MKDEV(major, minor);
	return 0;
}

static int cow_handoff_set(const char *val, const struct kernel_param *kp)
{
	struct cow_handoff *h, *slot = NULL;
	u8 uuid[COW_UUID_LEN];
	dev_t dev;
	int i;

	if (cow_handoff_parse(val, uuid, &dev))
		return -EINVAL;

	mutex_lock(&cow_handoff_lock);
	for (i = 0; i < COW_HANDOFF_SLOTS; i++) {
		h = &cow_handoffs[i];
		if (h->used && !memcmp(h->uuid, uuid, COW_UUID_LEN)) {
			slot = h;
			break;
		}
		if (!slot || (slot->used && (!h->used ||
					     time_before(h->stamp, slot->stamp))))
			slot = h;
	}
	memcpy(slot->uuid, uuid, COW_UUID_LEN);
	slot->dev = dev;
	slot->stamp = jiffies;
	slot->used = true;
	mutex_unlock(&cow_handoff_lock);
	return 0;
}

/* The entries not taken yet, one "UUID MAJOR:MINOR" line each. */
static int cow_handoff_get(char *buf, const struct kernel_param *kp)
{
	int i, len = 0;

	mutex_lock(&cow_handoff_lock);
	for (i = 0; i < COW_HANDOFF_SLOTS; i++) {
		struct cow_handoff *h = &cow_handoffs[i];

		if (h->used)
			len += scnprintf(buf + len, PAGE_SIZE - len, "%*phN %u:%u\n",
					 COW_UUID_LEN, h->uuid, MAJOR(h->dev),
					 MINOR(h->dev));
	}
	mutex_unlock(&cow_handoff_lock);
	return len;
}

static const struct kernel_param_ops cow_handoff_ops = {
	.set = cow_handoff_set,
	.get = cow_handoff_get,
};
module_param_cb(origin, &cow_handoff_ops, NULL, 0600);
MODULE_PARM_DESC(origin,
		 "written by mdadm before it starts a cow array: \"UUID MAJOR:MINOR\" names the array's origin");

bool cow_handoff_take(const u8 *uuid, dev_t *dev)
{
	bool found = false;
	int i;

	mutex_lock(&cow_handoff_lock);
	for (i = 0; i < COW_HANDOFF_SLOTS; i++) {
		struct cow_handoff *h = &cow_handoffs[i];

		if (h->used && !memcmp(h->uuid, uuid, COW_UUID_LEN)) {
			*dev = h->dev;
			h->used = false;
			found = !cow_handoff_expired(h);
			break;
		}
	}
	mutex_unlock(&cow_handoff_lock);
	return found;
}
