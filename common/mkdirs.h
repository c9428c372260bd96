/* Directories of a path made as needed. Pure. */
#ifndef COMMON_MKDIRS_H
#define COMMON_MKDIRS_H

/* Makes every directory above path's last component (mode 0755; those
 * that exist are fine): 0, or -errno. */
int	mkdir_parents(const char *path);

#endif
