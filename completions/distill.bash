# bash completion for distill(1): commands, each command's options, the
# values of --compression, key's subcommand, directories for --sysroot, --context and
# --cache, --cert-dir, --lookaside and --registries-d, recipes (*.yaml, *.yml), image archives (*.tar) and directories
# where they are expected.

_distill_options() {
	case "$1" in
	build) echo "-o --output -t --tag --sysroot --context --platform --source-date-epoch --compression --jobs --cache --no-cache --sbom --provenance --sync --timings --push --cache-from --cache-to --sign-key --passphrase-file --authfile --cert-dir --tls-verify --from -q --quiet -v --verbose -h --help" ;;
	closure) echo "--sysroot --json -h --help" ;;
	check) echo "--json --allow --authfile --cert-dir --tls-verify --platform -h --help" ;;
	inspect) echo "--json --packages --authfile --cert-dir --tls-verify --platform -h --help" ;;
	diff) echo "--json --authfile --cert-dir --tls-verify --platform -h --help" ;;
	export) echo "--dockerfile -h --help" ;;
	push) echo "--authfile --cert-dir --tls-verify --from --image-only -v --verbose -q --quiet -h --help" ;;
	sign) echo "--key --gpg-key --lookaside --registries-d --passphrase-file -a --annotation --authfile --cert-dir --tls-verify -h --help" ;;
	attest) echo "--key --passphrase-file --sbom --provenance --authfile --cert-dir --tls-verify -h --help" ;;
	verify) echo "--key --attestations --json --authfile --cert-dir --tls-verify -h --help" ;;
	key) echo "--output-key-prefix --passphrase-file --no-passphrase -h --help" ;;
	kube) echo "--name --image --pod --docker --authfile --cert-dir --tls-verify --platform -h --help" ;;
	esac
}

_distill() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="build closure inspect check diff export push sign attest verify key kube"
	local cmd="" i

	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
		return
	fi
	case "$prev" in
	--compression)
		COMPREPLY=($(compgen -W "gzip zstd none" -- "$cur"))
		return ;;
	--sysroot | --context | --cache | --cert-dir | --lookaside | --registries-d)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	-o | --output | --sbom | --dockerfile | --authfile | --key | --passphrase-file | --output-key-prefix)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-t | --tag | --platform | --source-date-epoch | --jobs | --allow | --from | --push | --cache-from | --cache-to | -a | --annotation | --gpg-key | --name | --image)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$(_distill_options "$cmd")" -- "$cur"))
		return
	fi
	case "$cmd" in
	build) COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur")) ;;
	inspect | check | diff | export | push | kube) COMPREPLY=($(compgen -f -X '!*.tar' -- "$cur") $(compgen -d -- "$cur")) ;;
	closure) COMPREPLY=($(compgen -f -- "$cur")) ;;
	key) COMPREPLY=($(compgen -W "generate" -- "$cur")) ;;
	esac
}
complete -F _distill distill
