/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * md-cow-handoff.h - how mdadm names the origin of a cow array that is
 * about to start (md-cow-handoff.c).
 */
#ifndef _MD_COW_HANDOFF_H
#define _MD_COW_HANDOFF_H

#include <linux/types.h>

/**
 * cow_handoff_take() - the origin mdadm named for an array.
 * @uuid: the array's uuid (mddev->uuid)
 * @dev: set to the origin's device number if there is an entry
 *
 * Looks up the entry that mdadm wrote to the module parameter "origin" for
 * @uuid and uses it up: an entry serves one start of the array.  May sleep.
 * Return: true if there was one.
 */
bool cow_handoff_take(const u8 *uuid, dev_t *dev);

#endif /* _MD_COW_HANDOFF_H */
