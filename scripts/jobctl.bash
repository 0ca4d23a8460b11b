# bash completion for jobctl(1), the client of jobd.
# Installed as share/bash-completion/completions/jobctl.  Queue and producer
# names are asked from the running daemon (quietly; nothing when it is down).

_jobctl_names()
{
	# $1: queue | producer.  Uses the -s SOCKET given on the line, if any.
	local jc=${COMP_WORDS[0]} sock="" i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket) sock=${COMP_WORDS[i + 1]} ;;
		--socket=*) sock=${COMP_WORDS[i]#--socket=} ;;
		esac
	done
	"$jc" ${sock:+-s "$sock"} "$1" list 2>/dev/null |
		awk 'NR > 1 { print $1 }'
}

_jobctl_reply()
{
	# $1: words to offer for the current word.
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_jobctl()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null 2>&1; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local commands="ping submit get list cancel retry wait logs watch top
		queue producer stats prune reload shutdown help"
	local states="waiting scheduled queued running succeeded failed
		cancelled"
	local i cmd="" cmdi=0 sub="" subi=0

	# The command: the first word that is not a global option.
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --socket) ((i++)) ;;
		-*) ;;
		*)
			cmd=${words[i]}
			cmdi=$i
			break
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		case $prev in
		-s | --socket)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-s --socket --json -h --help
				--version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	# After "--" in submit or producer add, complete the job's command.
	if [[ $cmd == submit || $cmd == producer ]]; then
		for ((i = cmdi + 1; i < cword; i++)); do
			if [[ ${words[i]} == -- ]]; then
				if ((i + 1 == cword)); then
					COMPREPLY=($(compgen -c -- "$cur"))
				elif declare -F _command_offset >/dev/null 2>&1; then
					_command_offset $((i + 1))
				else
					COMPREPLY=($(compgen -f -- "$cur"))
				fi
				return
			fi
		done
	fi

	case $cmd in
	submit)
		case $prev in
		-q | --queue)
			_jobctl_reply "$(_jobctl_names queue)"
			return
			;;
		--cwd)
			COMPREPLY=($(compgen -d -- "$cur"))
			return
			;;
		--batch)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		--output)
			COMPREPLY=($(compgen -W "capture discard" -- "$cur"))
			return
			;;
		--user)
			COMPREPLY=($(compgen -u -- "$cur"))
			return
			;;
		-n | --name | -t | --timeout | -a | --max-attempts | \
			-p | --priority | --delay | --at | --after | --unique | \
			-e | --env | --kill-grace | -c | --shell)
			return
			;;
		esac
		COMPREPLY=($(compgen -W "-q --queue -n --name -t --timeout -a
			--max-attempts -p --priority --delay --at --after
			--unique --cwd --no-env -e --env --kill-grace --output
			--user --wait --follow -c --shell --batch --json -h --help
			--" -- "$cur"))
		;;
	help)
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	get)
		COMPREPLY=($(compgen -W "--env --json -h --help" -- "$cur"))
		;;
	list | ls)
		case $prev in
		-q | --queue)
			_jobctl_reply "$(_jobctl_names queue)"
			return
			;;
		-s | -S | --state)
			local pre=""
			[[ $cur == *,* ]] && pre=${cur%,*},
			COMPREPLY=($(compgen -P "$pre" -W "$states" -- \
				"${cur##*,}"))
			compopt -o nospace 2>/dev/null
			return
			;;
		-n | --limit | --after-id | --before-id) return ;;
		esac
		COMPREPLY=($(compgen -W "-q --queue -S -s --state -n --limit --all
			--reverse --before-id --after-id --json -h --help" \
			-- "$cur"))
		;;
	cancel | retry)
		COMPREPLY=($(compgen -W "--json -h --help" -- "$cur"))
		;;
	wait)
		case $prev in
		-t | --timeout) return ;;
		esac
		COMPREPLY=($(compgen -W "--timeout --json -h --help" -- "$cur"))
		;;
	logs)
		case $prev in
		--attempt) return ;;
		esac
		COMPREPLY=($(compgen -W "-f --follow --attempt --json -h
			--help" -- "$cur"))
		;;
	watch)
		case $prev in
		-q | --queue)
			_jobctl_reply "$(_jobctl_names queue)"
			return
			;;
		--job) return ;;
		esac
		COMPREPLY=($(compgen -W "-q --queue --job --json -h --help" \
			-- "$cur"))
		;;
	stats)
		COMPREPLY=($(compgen -W "--prometheus --json -h --help" -- "$cur"))
		;;
	prune)
		case $prev in
		--older-than) return ;;
		esac
		COMPREPLY=($(compgen -W "--older-than --json -h --help" -- "$cur"))
		;;
	shutdown)
		COMPREPLY=($(compgen -W "--now --json -h --help" -- "$cur"))
		;;
	top | ping | reload | help)
		COMPREPLY=($(compgen -W "--json -h --help" -- "$cur"))
		;;
	queue | producer)
		for ((i = cmdi + 1; i < cword; i++)); do
			if [[ ${words[i]} != -* ]]; then
				sub=${words[i]}
				subi=$i
				break
			fi
		done
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W "list get add set rm pause resume" \
				-- "$cur"))
			[[ $cmd == producer ]] &&
				COMPREPLY=($(compgen -W "list get add rm pause
					resume" -- "$cur"))
			return
		fi
		case $sub in
		get | rm | pause | resume | set)
			if [[ $cmd == queue && $sub == set && $cur == -* ]] ||
				((subi + 1 < cword)); then
				:
			else
				_jobctl_reply "$(_jobctl_names "$cmd")"
				return
			fi
			;;
		esac
		if [[ $cmd == queue && ($sub == add || $sub == set) ]]; then
			case $prev in
			--concurrency | --rate | --burst | --capacity | \
				--timeout | --kill-grace | --max-attempts | \
				--backoff)
				[[ $prev == --rate ]] &&
					COMPREPLY=($(compgen -W "none 0" -- "$cur"))
				return
				;;
			esac
			local paused=""
			[[ $sub == add ]] && paused=--paused
			COMPREPLY=($(compgen -W "--concurrency --rate --burst
				--capacity --timeout --kill-grace --max-attempts
				--backoff $paused --json -h --help" -- "$cur"))
		elif [[ $cmd == producer && $sub == add ]]; then
			case $prev in
			--type)
				COMPREPLY=($(compgen -W "interval cron command" \
					-- "$cur"))
				return
				;;
			--format)
				COMPREPLY=($(compgen -W "json lines" -- "$cur"))
				return
				;;
			--restart)
				COMPREPLY=($(compgen -W "never on-failure always" \
					-- "$cur"))
				return
				;;
			-q | --queue)
				_jobctl_reply "$(_jobctl_names queue)"
				return
				;;
			--cwd)
				COMPREPLY=($(compgen -d -- "$cur"))
				return
				;;
			--every | --schedule | --generator | --job | -e | \
				--env | -c | --shell)
				return
				;;
			esac
			COMPREPLY=($(compgen -W "--type --every --schedule -q
				--queue --overlap --format --restart --generator
				--job --cwd -e --env -c --shell --json -h --help
				--" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "--json -h --help" -- "$cur"))
		fi
		;;
	esac
}

complete -F _jobctl jobctl
