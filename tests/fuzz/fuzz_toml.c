/* libFuzzer: the TOML reader, and the config key table on top of it. */
#include <stdint.h>
#include <stdlib.h>

#include "index/toml.h"
#include "server/core/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct toml_value	*v;
	struct config		*c = NULL;
	char			*cause = NULL;

	if ((v = toml_parse((const char *)data, len, &cause)) != NULL)
		toml_free(v);
	free(cause);
	cause = NULL;
	if (config_parse((const char *)data, len, "fuzz.toml", &c, &cause) ==
	    0)
		config_free(c);
	free(cause);
	return 0;
}
