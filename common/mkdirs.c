#include "common/mkdirs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xmalloc.h"

int
mkdir_parents(const char *path)
{
	char	*p = xstrdup(path);
	int	 r = 0;

	for (char *s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = '/';
	}
	free(p);
	return r;
}
