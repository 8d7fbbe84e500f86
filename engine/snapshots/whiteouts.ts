/**
 * The two representations of deletions in a layered filesystem.
 *
 * OCI image-spec (layer changesets, inherited from AUFS): a deleted path `a/b` is an empty entry
 * `a/.wh.b`; a directory whose lower contents are hidden carries an entry `.wh..wh..opq`. Any other
 * `.wh..wh.` name is AUFS bookkeeping and means nothing elsewhere.
 *
 * overlayfs (Documentation/filesystems/overlayfs.rst): a deleted path is a character device 0/0 in the
 * upper (or a lower) directory; an opaque directory has the attribute `trusted.overlay.opaque` = "y".
 */
export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_META_PREFIX = ".wh..wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";
/** Attributes overlayfs keeps for itself in upper directories; never part of a layer. */
export const OVERLAY_XATTR_PREFIX = "trusted.overlay.";
