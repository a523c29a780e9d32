// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-main.c - the md "cow" personality: copy-on-write over a read-only
 * origin.
 *
 * A cow array has exactly one md member, the *dirty* device, which carries
 * md's v1.2 superblock and, in md's data area, the cow metadata (see
 * md-cow-metadata.c, the only file that knows the on-disk format).  The
 * *origin* is not an md member: md writes superblocks to every member and
 * claims members exclusively, while an origin must stay untouched and may
 * serve many arrays at once.  The personality therefore opens the origin
 * itself, read-only, with one module-wide holder shared by all cow arrays
 * (so mounts and other exclusive users are kept off it), and checks it
 * against the identity recorded in the cow superblock.
 *
 * Data path status: reads are served from the origin (or as zeros when the
 * array has no origin), which is exactly what a cow array with no written
 * chunk returns.  The copy-on-write write path is not implemented yet, so
 * writes, discards and write-zeroes fail with an I/O error rather than
 * pretend to succeed.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "md.h"
#include "md-cow-compat.h"
#include "md-cow-metadata.h"

/*
 * md level number of the personality.  Not used by any md personality (nor
 * reserved by mdadm); positive because mdadm treats level > 0 as an array
 * with a size, and far below mdadm's UnSet (0xfffe).
 */
#define COW_LEVEL	64

/*
 * The one holder every cow array claims its origin with: a block device
 * claim is shared by equal holders, so any number of cow arrays can hold one
 * origin while mounts, dm and other md arrays are refused.
 */
static int cow_origin_holder;

/**
 * struct cow_conf - per-array state, mddev->private.
 * @mddev: the array
 * @dirty: the only md member, holding the cow metadata and chunks
 * @origin_file: the origin opened read-only; NULL when the array has no
 *	origin and unwritten chunks read as zeros
 * @origin_dev: device number of the origin, 0 without one
 * @meta: the committed cow superblock, in core
 *
 * Locking: set up in cow_run() and torn down in cow_free(), both under the
 * mddev reconfig mutex; all fields are constant in between.  Readers outside
 * the I/O path (sysfs) look the structure up under mddev->lock, which
 * cow_free() also takes to unpublish it.
 */
struct cow_conf {
	struct mddev *mddev;
	struct md_rdev *dirty;
	struct file *origin_file;
	dev_t origin_dev;
	struct cow_meta meta;
};

static struct cow_conf *cow_conf_get(struct mddev *mddev)
{
	lockdep_assert_held(&mddev->lock);
	return mddev->private;
}

static bool cow_make_request(struct mddev *mddev, struct bio *bio)
{
	struct cow_conf *conf = mddev->private;

	if (unlikely(bio->bi_opf & REQ_PREFLUSH) && md_flush_request(mddev, bio))
		return true;

	if (bio_op(bio) != REQ_OP_READ) {
		/* The copy-on-write data path is not there yet: refuse. */
		bio_io_error(bio);
		return true;
	}

	md_account_bio(mddev, &bio);
	if (!conf->origin_file) {
		zero_fill_bio(bio);
		bio_endio(bio);
		return true;
	}
	bio_set_dev(bio, file_bdev(conf->origin_file));
	submit_bio_noacct(bio);
	return true;
}

static void cow_status(struct seq_file *seq, struct mddev *mddev)
{
	struct cow_conf *conf = mddev->private;

	seq_printf(seq, " %uk chunks", conf->meta.chunk_sectors / 2);
	if (conf->origin_file)
		seq_printf(seq, " origin %pg", file_bdev(conf->origin_file));
	else
		seq_puts(seq, " origin none");
}

static sector_t cow_size(struct mddev *mddev, sector_t sectors, int raid_disks)
{
	struct cow_conf *conf = mddev->private;

	/* The array is as large as its origin (or its recorded size). */
	return conf ? conf->meta.array_sectors : 0;
}

static ssize_t cow_origin_show(struct mddev *mddev, char *page)
{
	struct cow_conf *conf;
	ssize_t ret = 0;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	if (conf && conf->origin_file)
		ret = sprintf(page, "%u:%u\n", MAJOR(conf->origin_dev),
			      MINOR(conf->origin_dev));
	else if (conf)
		ret = sprintf(page, "none\n");
	spin_unlock(&mddev->lock);
	return ret;
}

static ssize_t cow_origin_sectors_show(struct mddev *mddev, char *page)
{
	struct cow_conf *conf;
	ssize_t ret = 0;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	if (conf)
		ret = sprintf(page, "%llu\n",
			      (unsigned long long)conf->meta.origin_sectors);
	spin_unlock(&mddev->lock);
	return ret;
}

static ssize_t cow_chunk_size_show(struct mddev *mddev, char *page)
{
	struct cow_conf *conf;
	ssize_t ret = 0;

	spin_lock(&mddev->lock);
	conf = cow_conf_get(mddev);
	if (conf)
		ret = sprintf(page, "%u\n", conf->meta.chunk_sectors << 9);
	spin_unlock(&mddev->lock);
	return ret;
}

static struct md_sysfs_entry cow_origin_entry =
	__ATTR(origin, 0444, cow_origin_show, NULL);
static struct md_sysfs_entry cow_origin_sectors_entry =
	__ATTR(origin_sectors, 0444, cow_origin_sectors_show, NULL);
static struct md_sysfs_entry cow_chunk_size_entry =
	__ATTR(chunk_size, 0444, cow_chunk_size_show, NULL);

static struct attribute *cow_attrs[] = {
	&cow_origin_entry.attr,
	&cow_origin_sectors_entry.attr,
	&cow_chunk_size_entry.attr,
	NULL,
};

static const struct attribute_group cow_attr_group = {
	.name = "cow",
	.attrs = cow_attrs,
};

/* Open and check the origin recorded in the handoff block. */
static int cow_origin_open(struct cow_conf *conf)
{
	struct mddev *mddev = conf->mddev;
	struct file *file;
	dev_t dev;
	int err;

	err = cow_handoff_load(conf->dirty, mddev->uuid, mdname(mddev), &dev);
	if (err)
		return err;
	if (dev == disk_devt(mddev->gendisk) || dev == conf->dirty->bdev->bd_dev) {
		pr_warn("md/cow:%s: the origin cannot be the array or its dirty device\n",
			mdname(mddev));
		return -EINVAL;
	}
	file = cow_compat_open_ro(dev, &cow_origin_holder);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		if (err == -EBUSY)
			pr_warn("md/cow:%s: origin %u:%u is in use (mounted or claimed by another driver)\n",
				mdname(mddev), MAJOR(dev), MINOR(dev));
		else
			pr_warn("md/cow:%s: cannot open origin %u:%u (%d)\n",
				mdname(mddev), MAJOR(dev), MINOR(dev), err);
		return err;
	}
	err = cow_origin_verify(file_bdev(file), &conf->meta, mdname(mddev));
	if (err)
		goto out_close;
	err = bd_link_disk_holder(file_bdev(file), mddev->gendisk);
	if (err)
		goto out_close;
	conf->origin_file = file;
	conf->origin_dev = dev;
	return 0;

out_close:
	cow_compat_close(file);
	return err;
}

static void cow_origin_close(struct cow_conf *conf)
{
	if (!conf->origin_file)
		return;
	bd_unlink_disk_holder(file_bdev(conf->origin_file), conf->mddev->gendisk);
	cow_compat_close(conf->origin_file);
	conf->origin_file = NULL;
}

static int cow_set_limits(struct cow_conf *conf)
{
	struct mddev *mddev = conf->mddev;
	struct queue_limits lim;
	int err;

	md_init_stacking_limits(&lim);
	lim.max_write_zeroes_sectors = 0;
	lim.max_hw_discard_sectors = 0;
	lim.io_opt = conf->meta.chunk_sectors << 9;
	err = mddev_stack_rdev_limits(mddev, &lim, 0);
	if (err)
		return err;
	if (conf->origin_file)
		queue_limits_stack_bdev(&lim, file_bdev(conf->origin_file), 0,
					mdname(mddev));
	return queue_limits_set(mddev->gendisk->queue, &lim);
}

static struct md_rdev *cow_find_dirty(struct mddev *mddev)
{
	struct md_rdev *rdev, *dirty = NULL;

	rdev_for_each(rdev, mddev) {
		if (rdev->raid_disk != 0 || test_bit(Faulty, &rdev->flags))
			continue;
		dirty = rdev;
	}
	return dirty;
}

static int cow_run(struct mddev *mddev)
{
	struct cow_conf *conf;
	int err;

	if (mddev->raid_disks != 1) {
		pr_warn("md/cow:%s: a cow array has one md member (the dirty device), not %d\n",
			mdname(mddev), mddev->raid_disks);
		return -EINVAL;
	}
	if (mddev->bitmap_info.file || mddev->bitmap_info.offset) {
		pr_warn("md/cow:%s: write-intent bitmaps are not supported\n",
			mdname(mddev));
		return -EINVAL;
	}
	if (!mddev->persistent || mddev->major_version != 1) {
		pr_warn("md/cow:%s: needs md v1.x metadata\n", mdname(mddev));
		return -EINVAL;
	}

	conf = kzalloc(sizeof(*conf), GFP_KERNEL);
	if (!conf)
		return -ENOMEM;
	conf->mddev = mddev;
	conf->dirty = cow_find_dirty(mddev);
	if (!conf->dirty) {
		pr_warn("md/cow:%s: the dirty device is missing\n", mdname(mddev));
		err = -EINVAL;
		goto out_free;
	}

	err = cow_meta_load(conf->dirty, mddev->uuid, mdname(mddev), &conf->meta);
	if (err)
		goto out_free;
	if (conf->meta.chunk_sectors != mddev->chunk_sectors) {
		pr_warn("md/cow:%s: chunk size %u in cow metadata differs from md's %u\n",
			mdname(mddev), conf->meta.chunk_sectors,
			mddev->chunk_sectors);
		err = -EINVAL;
		goto out_free;
	}
	if (conf->meta.data_start * 8 > conf->dirty->sectors) {
		pr_warn("md/cow:%s: dirty device %pg is too small for its metadata\n",
			mdname(mddev), conf->dirty->bdev);
		err = -EINVAL;
		goto out_free;
	}

	if (conf->meta.has_origin) {
		err = cow_origin_open(conf);
		if (err)
			goto out_free;
	}

	err = cow_set_limits(conf);
	if (err)
		goto out_close_origin;

	if (conf->meta.read_only)
		mddev->ro = MD_RDONLY;
	mddev->degraded = 0;
	md_set_array_sectors(mddev, conf->meta.array_sectors);
	mddev->private = conf;

	if (sysfs_create_group(&mddev->kobj, &cow_attr_group))
		pr_warn("md/cow:%s: cannot create sysfs attributes\n",
			mdname(mddev));

	if (conf->origin_file)
		pr_info("md/cow:%s: started, origin %pg, %u KiB chunks, %llu sectors\n",
			mdname(mddev), file_bdev(conf->origin_file),
			conf->meta.chunk_sectors / 2,
			(unsigned long long)conf->meta.array_sectors);
	else
		pr_info("md/cow:%s: started without origin, %u KiB chunks, %llu sectors\n",
			mdname(mddev), conf->meta.chunk_sectors / 2,
			(unsigned long long)conf->meta.array_sectors);
	return 0;

out_close_origin:
	cow_origin_close(conf);
out_free:
	kfree(conf);
	return err;
}

static void cow_free(struct mddev *mddev, void *priv)
{
	struct cow_conf *conf = priv;

	spin_lock(&mddev->lock);
	mddev->private = NULL;
	spin_unlock(&mddev->lock);
	/* md removes the group once the reconfig mutex is dropped. */
	mddev->to_remove = &cow_attr_group;

	cow_origin_close(conf);
	kfree(conf);
}

static void cow_error(struct mddev *mddev, struct md_rdev *rdev)
{
	/* There is no redundancy: losing the dirty device loses the array. */
	if (!test_and_set_bit(MD_BROKEN, &mddev->flags))
		pr_crit("md/cow:%s: dirty device %pg failed, the array stops accepting writes\n",
			mdname(mddev), rdev->bdev);
	sysfs_notify_dirent_safe(mddev->sysfs_state);
}

static int cow_add_disk(struct mddev *mddev, struct md_rdev *rdev)
{
	pr_warn("md/cow:%s: cannot add %pg: a cow array has exactly one origin and one dirty device\n",
		mdname(mddev), rdev->bdev);
	return -EINVAL;
}

static int cow_remove_disk(struct mddev *mddev, struct md_rdev *rdev)
{
	/* The dirty device cannot leave a running array. */
	return -EBUSY;
}

static int cow_spare_active(struct mddev *mddev)
{
	return 0;
}

static void cow_quiesce(struct mddev *mddev, int quiesce)
{
	/* No background work and no in-flight state of our own yet. */
}

static struct md_personality cow_personality = {
	.name		= "cow",
	.level		= COW_LEVEL,
	.owner		= THIS_MODULE,
	.make_request	= cow_make_request,
	.run		= cow_run,
	.free		= cow_free,
	.status		= cow_status,
	.error_handler	= cow_error,
	.hot_add_disk	= cow_add_disk,
	.hot_remove_disk = cow_remove_disk,
	.spare_active	= cow_spare_active,
	.size		= cow_size,
	.quiesce	= cow_quiesce,
};

static int __init cow_init(void)
{
	return register_md_personality(&cow_personality);
}

static void __exit cow_exit(void)
{
	unregister_md_personality(&cow_personality);
}

module_init(cow_init);
module_exit(cow_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("md copy-on-write personality over a read-only origin");
MODULE_ALIAS("md-cow");
MODULE_ALIAS("md-level-64");
