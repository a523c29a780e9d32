// SPDX-License-Identifier: GPL-2.0-only
/*
 * md-cow-metadata.c - the only code in the kernel that knows the cow
 * on-disk format (md-cow_p.h, Documentation/admin-guide/md-cow.rst).
 *
 * The dirty device's data area starts with two copies of the cow superblock
 * (blocks 0 and 1) and mdadm's handoff block (block 2).  Every block carries
 * its magic, its own block number, a format version and a crc32c over the
 * whole 4 KiB block, so a block that was misdirected, torn or belongs to
 * another array is recognised and refused rather than trusted.
 *
 * The origin is identified by its size and a fingerprint: a crc32c over its
 * size and 16 sampled 4 KiB blocks (first, last, and evenly spaced between).
 * It detects a wrong or replaced origin cheaply; it cannot see a change to a
 * block that was not sampled (see md-cow.rst, "Origin identity").
 */
#include <linux/bio.h>
#include <linux/crc32c.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "md.h"
#include "md-cow_p.h"
#include "md-cow-metadata.h"

static_assert(sizeof(struct cow_sb_disk) <= COW_BLOCK_SIZE);
static_assert(sizeof(struct cow_handoff_disk) <= COW_BLOCK_SIZE);
static_assert(COW_LOCATOR_MAX == COW_LOCATOR_LEN);

/* Standard CRC-32C of a block whose csum field (at @csum_off) counts as 0. */
static u32 cow_block_csum(const void *block, size_t csum_off)
{
	static const u8 zero[4];
	u32 crc = ~0U;

	crc = crc32c(crc, block, csum_off);
	crc = crc32c(crc, zero, sizeof(zero));
	crc = crc32c(crc, block + csum_off + 4, COW_BLOCK_SIZE - csum_off - 4);
	return ~crc;
}

static bool cow_read_block(struct md_rdev *dirty, u64 blocknr, struct page *page)
{
	return sync_page_io(dirty, blocknr * COW_BLOCK_SECTORS, COW_BLOCK_SIZE,
			    page, REQ_OP_READ, false);
}

/*
 * Validate one superblock copy.  Returns 0 or a negative errno; @why is set
 * to a short reason for the log.
 */
static int cow_sb_check(const struct cow_sb_disk *sb, u64 blocknr,
			const char **why)
{
	if (le32_to_cpu(sb->magic) != COW_SB_MAGIC) {
		*why = "bad magic";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->csum) !=
	    cow_block_csum(sb, offsetof(struct cow_sb_disk, csum))) {
		*why = "checksum mismatch";
		return -EUCLEAN;
	}
	if (le64_to_cpu(sb->blocknr) != blocknr) {
		*why = "wrong block number (misdirected write?)";
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->version) != COW_VERSION) {
		*why = "unknown format version";
		return -EOPNOTSUPP;
	}
	return 0;
}

static int cow_sb_unpack(const struct cow_sb_disk *sb, const u8 *uuid,
			 const char *name, struct cow_meta *cm)
{
	u64 incompat = le64_to_cpu(sb->incompat);
	u64 ro_compat = le64_to_cpu(sb->ro_compat);
	u64 flags = le64_to_cpu(sb->flags);
	u32 chunk = le32_to_cpu(sb->chunk_sectors);

	if (memcmp(sb->array_uuid, uuid, sizeof(sb->array_uuid))) {
		pr_warn("md/cow:%s: cow metadata belongs to array %pU, not %pU\n",
			name, sb->array_uuid, uuid);
		return -ENODEV;
	}
	if (incompat & ~COW_FEATURE_INCOMPAT_SUPP) {
		pr_warn("md/cow:%s: unsupported incompat features 0x%llx\n",
			name, incompat & ~COW_FEATURE_INCOMPAT_SUPP);
		return -EOPNOTSUPP;
	}
	cm->read_only = ro_compat & ~COW_FEATURE_RO_COMPAT_SUPP;
	if (cm->read_only)
		pr_warn("md/cow:%s: unknown ro_compat features 0x%llx, starting read-only\n",
			name, ro_compat & ~COW_FEATURE_RO_COMPAT_SUPP);

	if (chunk < COW_MIN_CHUNK_SECTORS || chunk > COW_MAX_CHUNK_SECTORS ||
	    !is_power_of_2(chunk)) {
		pr_warn("md/cow:%s: invalid chunk size %u sectors in cow superblock\n",
			name, chunk);
		return -EUCLEAN;
	}
	cm->seq = le64_to_cpu(sb->seq);
	cm->needs_check = flags & COW_SB_F_NEEDS_CHECK;
	cm->has_origin = !(flags & COW_SB_F_NO_ORIGIN);
	cm->array_sectors = le64_to_cpu(sb->array_sectors);
	cm->chunk_sectors = chunk;
	cm->origin_sectors = le64_to_cpu(sb->origin_sectors);
	cm->origin_fp = le32_to_cpu(sb->origin_fp);
	cm->origin_fp_method = le32_to_cpu(sb->origin_fp_method);
	memcpy(cm->origin_locator, sb->origin_locator, COW_LOCATOR_LEN);
	cm->origin_locator[COW_LOCATOR_MAX] = '\0';
	cm->data_start = le64_to_cpu(sb->data_start);
	cm->dirty_blocks = le64_to_cpu(sb->dirty_blocks);
	cm->mapped_chunks = le64_to_cpu(sb->mapped_chunks);

	if (!cm->array_sectors || cm->array_sectors & (COW_BLOCK_SECTORS - 1)) {
		pr_warn("md/cow:%s: invalid array size %llu sectors in cow superblock\n",
			name, (unsigned long long)cm->array_sectors);
		return -EUCLEAN;
	}
	if (cm->has_origin && cm->origin_sectors != cm->array_sectors) {
		pr_warn("md/cow:%s: array size %llu differs from origin size %llu\n",
			name, (unsigned long long)cm->array_sectors,
			(unsigned long long)cm->origin_sectors);
		return -EUCLEAN;
	}
	if (cm->data_start < COW_MIN_DATA_START ||
	    cm->data_start & ((chunk / COW_BLOCK_SECTORS) - 1)) {
		pr_warn("md/cow:%s: invalid data start block %llu\n",
			name, cm->data_start);
		return -EUCLEAN;
	}
	return 0;
}

int cow_meta_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		  struct cow_meta *cm)
{
	struct page *page[2];
	const char *why[2] = { "unreadable", "unreadable" };
	int err[2], use, i, ret;

	page[0] = alloc_page(GFP_KERNEL);
	page[1] = alloc_page(GFP_KERNEL);
	if (!page[0] || !page[1]) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < 2; i++) {
		u64 blocknr = i ? COW_SB_BLOCK_B : COW_SB_BLOCK_A;

		if (!cow_read_block(dirty, blocknr, page[i]))
			err[i] = -EIO;
		else
			err[i] = cow_sb_check(page_address(page[i]), blocknr,
					      &why[i]);
	}
	if (err[0] && err[1]) {
		pr_warn("md/cow:%s: no valid cow superblock on %pg (copy A: %s, copy B: %s)\n",
			name, dirty->bdev, why[0], why[1]);
		ret = (err[0] == -EIO && err[1] == -EIO) ? -EIO :
		      (err[0] == -EOPNOTSUPP || err[1] == -EOPNOTSUPP) ?
		      -EOPNOTSUPP : -EUCLEAN;
		goto out_free;
	}
	if (err[0])
		use = 1;
	else if (err[1])
		use = 0;
	else
		use = le64_to_cpu(((struct cow_sb_disk *)page_address(page[1]))->seq) >
		      le64_to_cpu(((struct cow_sb_disk *)page_address(page[0]))->seq);

	memset(cm, 0, sizeof(*cm));
	ret = cow_sb_unpack(page_address(page[use]), uuid, name, cm);
	if (ret)
		goto out_free;
	cm->sb_copy = use;
	cm->other_copy_bad = err[!use] != 0;
	if (cm->other_copy_bad)
		pr_notice("md/cow:%s: cow superblock copy %c is invalid (%s), using copy %c\n",
			  name, use ? 'A' : 'B', why[!use], use ? 'B' : 'A');
out_free:
	if (page[1])
		__free_page(page[1]);
	if (page[0])
		__free_page(page[0]);
	return ret;
}

int cow_handoff_load(struct md_rdev *dirty, const u8 *uuid, const char *name,
		     dev_t *origin)
{
	struct cow_handoff_disk *h;
	struct page *page;
	int ret = 0;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	if (!cow_read_block(dirty, COW_HANDOFF_BLOCK, page)) {
		pr_warn("md/cow:%s: cannot read the origin handoff block\n", name);
		ret = -EIO;
		goto out_free;
	}
	h = page_address(page);
	if (le32_to_cpu(h->magic) != COW_HANDOFF_MAGIC ||
	    le32_to_cpu(h->csum) !=
	    cow_block_csum(h, offsetof(struct cow_handoff_disk, csum)) ||
	    le64_to_cpu(h->blocknr) != COW_HANDOFF_BLOCK ||
	    le32_to_cpu(h->version) != COW_VERSION) {
		pr_warn("md/cow:%s: origin handoff block is missing or damaged; assemble the array with mdadm\n",
			name);
		ret = -EUCLEAN;
		goto out_free;
	}
	if (memcmp(h->array_uuid, uuid, sizeof(h->array_uuid))) {
		pr_warn("md/cow:%s: origin handoff block belongs to array %pU\n",
			name, h->array_uuid);
		ret = -ENODEV;
		goto out_free;
	}
	*origin = MKDEV(le32_to_cpu(h->origin_major), le32_to_cpu(h->origin_minor));
out_free:
	__free_page(page);
	return ret;
}

/* Block (4 KiB units) of fingerprint sample @i out of COW_FP_SAMPLES. */
static u64 cow_fp_sample_block(u64 nblocks, unsigned int i)
{
	return div_u64((nblocks - 1) * i, COW_FP_SAMPLES - 1);
}

static int cow_read_origin_block(struct block_device *bdev, u64 blocknr,
				 struct page *page)
{
	struct bio_vec bvec;
	struct bio bio;
	int ret;

	bio_init(&bio, bdev, &bvec, 1, REQ_OP_READ);
	bio.bi_iter.bi_sector = blocknr * COW_BLOCK_SECTORS;
	__bio_add_page(&bio, page, COW_BLOCK_SIZE, 0);
	ret = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return ret;
}

int cow_origin_verify(struct block_device *origin, const struct cow_meta *cm,
		      const char *name)
{
	sector_t size = bdev_nr_sectors(origin);
	__le64 size_le = cpu_to_le64(size);
	u64 nblocks = size / COW_BLOCK_SECTORS;
	struct page *page;
	unsigned int i;
	u32 crc = ~0U;
	int ret = 0;

	if (size != cm->origin_sectors) {
		pr_warn("md/cow:%s: %pg is not the origin: size %llu sectors, expected %llu\n",
			name, origin, (unsigned long long)size,
			(unsigned long long)cm->origin_sectors);
		return -EINVAL;
	}
	if (cm->origin_fp_method != COW_FP_METHOD_SAMPLES16) {
		pr_warn("md/cow:%s: unknown origin fingerprint method %u\n",
			name, cm->origin_fp_method);
		return -EOPNOTSUPP;
	}
	if (!nblocks)
		return -EINVAL;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	crc = crc32c(crc, &size_le, sizeof(size_le));
	for (i = 0; i < COW_FP_SAMPLES; i++) {
		ret = cow_read_origin_block(origin, cow_fp_sample_block(nblocks, i),
					    page);
		if (ret) {
			pr_warn("md/cow:%s: cannot read origin %pg (%d)\n",
				name, origin, ret);
			goto out_free;
		}
		crc = crc32c(crc, page_address(page), COW_BLOCK_SIZE);
	}
	crc = ~crc;
	if (crc != cm->origin_fp) {
		pr_warn("md/cow:%s: %pg is not the origin: fingerprint %08x, expected %08x\n",
			name, origin, crc, cm->origin_fp);
		ret = -EINVAL;
	}
out_free:
	__free_page(page);
	return ret;
}
