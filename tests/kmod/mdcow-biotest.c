// SPDX-License-Identifier: GPL-2.0-only
/*
 * mdcow-biotest - send one write bio with chosen flags to a block device.
 *
 * A test helper for the md-cow suite, never part of an installation.
 * Userspace cannot make some bios a filesystem sends, such as a write that
 * carries REQ_PREFLUSH and data (a journal commit block).  Loading this
 * module sends one and reports its status as the load's result:
 *
 *	modprobe mdcow-biotest dev=/dev/md127 sector=8 fill=0x5a flags=preflush,fua
 *
 * writes one 4 KiB block of @fill at @sector; the load succeeds (then
 * rmmod it) when the bio completed without error and fails with the bio's
 * error (EIO, ENOSPC, ...) otherwise.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/string.h>

static char *dev;
module_param(dev, charp, 0444);
MODULE_PARM_DESC(dev, "block device path to write to");

static unsigned long long sector;
module_param(sector, ullong, 0444);
MODULE_PARM_DESC(sector, "first 512-byte sector of the 4 KiB write");

static unsigned int fill = 0x5a;
module_param(fill, uint, 0444);
MODULE_PARM_DESC(fill, "byte written (default 0x5a)");

static char *flags = "";
module_param(flags, charp, 0444);
MODULE_PARM_DESC(flags, "comma-separated: preflush, fua, sync");

static int biotest_flags(blk_opf_t *opf)
{
	char *copy, *p, *tok;
	int err = 0;

	copy = kstrdup(flags, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	p = copy;
	while ((tok = strsep(&p, ",")) != NULL) {
		if (!*tok)
			continue;
		if (!strcmp(tok, "preflush"))
			*opf |= REQ_PREFLUSH;
		else if (!strcmp(tok, "fua"))
			*opf |= REQ_FUA;
		else if (!strcmp(tok, "sync"))
			*opf |= REQ_SYNC;
		else
			err = -EINVAL;
	}
	kfree(copy);
	return err;
}

static int __init biotest_init(void)
{
	blk_opf_t opf = REQ_OP_WRITE;
	struct file *file;
	struct page *page;
	struct bio *bio;
	int err;

	if (!dev || !*dev)
		return -EINVAL;
	err = biotest_flags(&opf);
	if (err) {
		pr_err("mdcow-biotest: unknown flag in '%s'\n", flags);
		return err;
	}
	file = bdev_file_open_by_path(dev, BLK_OPEN_READ | BLK_OPEN_WRITE,
				      NULL, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	page = alloc_page(GFP_KERNEL);
	if (!page) {
		err = -ENOMEM;
		goto out_close;
	}
	memset(page_address(page), fill & 0xff, PAGE_SIZE);
	bio = bio_alloc(file_bdev(file), 1, opf, GFP_KERNEL);
	bio->bi_iter.bi_sector = sector;
	__bio_add_page(bio, page, SZ_4K, 0);
	err = submit_bio_wait(bio);
	pr_info("mdcow-biotest: write of 4 KiB at sector %llu of %s (flags '%s'): %d\n",
		sector, dev, flags, err);
	bio_put(bio);
	__free_page(page);
out_close:
	fput(file);
	return err;
}

static void __exit biotest_exit(void)
{
}

module_init(biotest_init);
module_exit(biotest_exit);
MODULE_DESCRIPTION("md-cow test helper: one write bio with chosen flags");
MODULE_LICENSE("GPL");
