"""Files for outside tools: a host's TPM evidence in the formats tpm2-tools reads."""
