using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MedClip.IO.Torch;

/// <summary>A Python global a pickle named, after the allow-list check (e.g. torch.FloatStorage).</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// A pickle virtual machine that runs only what a PyTorch state dict needs: strings, integers, booleans, None, tuples,
/// lists, dicts, the memo, persistent ids (storages) and calls to an allow-list of globals (OrderedDict and torch's
/// tensor rebuild functions). Any other opcode or global is refused by name before anything runs, so a malicious
/// checkpoint cannot execute code. Calls are resolved by <see cref="Call"/>; storages by the persistent-load callback.
/// </summary>
internal sealed class RestrictedUnpickler
{
    /// <summary>The globals a state dict may name, and nothing else.</summary>
    public static readonly IReadOnlySet<string> AllowedGlobals = new HashSet<string>(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
        "torch.BoolStorage",
    };

    private static readonly object Mark = new();

    private readonly Stream _stream;
    private readonly string _path;
    private readonly Func<object?[], object> _persistentLoad;
    private readonly Func<PickleGlobal, object?[], object?> _call;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];

    private RestrictedUnpickler(Stream stream, string path, Func<object?[], object> persistentLoad, Func<PickleGlobal, object?[], object?> call)
    {
        _stream = stream;
        _path = path;
        _persistentLoad = persistentLoad;
        _call = call;
    }

    /// <summary>
    /// Runs one pickle from the stream's position up to and including its STOP opcode and returns its value.
    /// Dicts come back as <see cref="OrderedDictionary{TKey, TValue}"/>, tuples as object arrays, lists as lists,
    /// integers as long (or BigInteger when wider).
    /// </summary>
    public static object? Load(Stream stream, string path, Func<object?[], object> persistentLoad, Func<PickleGlobal, object?[], object?> call) =>
        new RestrictedUnpickler(stream, path, persistentLoad, call).Run();

    private object? Run()
    {
        while (true)
        {
            long position = _stream.Position;
            int op = _stream.ReadByte();
            if (op < 0) throw Invalid("it ends in the middle of a pickle, so the file is probably truncated");
            switch (op)
            {
                case 0x80: ReadBytes(1); break;                                  // PROTO
                case 0x95: ReadBytes(8); break;                                  // FRAME: a length hint only
                case '.': return PopFinal();                                     // STOP
                case '(': _marks.Push(_stack.Count); break;                      // MARK
                case '}': Push(new OrderedDictionary<object, object?>()); break; // EMPTY_DICT
                case ']': Push(new List<object?>()); break;                      // EMPTY_LIST
                case ')': Push(Array.Empty<object?>()); break;                   // EMPTY_TUPLE
                case 't': Push(PopToMark().ToArray()); break;                    // TUPLE
                case 0x85: Push(PopMany(1)); break;                              // TUPLE1
                case 0x86: Push(PopMany(2)); break;                              // TUPLE2
                case 0x87: Push(PopMany(3)); break;                              // TUPLE3
                case 'X': Push(ReadString(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // BINUNICODE
                case 0x8c: Push(ReadString(ReadBytes(1)[0])); break;             // SHORT_BINUNICODE
                case 0x8d: Push(ReadString(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)))); break; // BINUNICODE8
                case 'q': _memo[ReadBytes(1)[0]] = Peek(); break;                // BINPUT
                case 'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break;                   // MEMOIZE
                case 'h': Push(MemoGet(ReadBytes(1)[0])); break;                 // BINGET
                case 'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case 'K': Push((long)ReadBytes(1)[0]); break;                    // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case 0x8a: Push(ReadLong1()); break;                             // LONG1
                case 0x88: Push(true); break;                                    // NEWTRUE
                case 0x89: Push(false); break;                                   // NEWFALSE
                case 'N': Push(null); break;                                     // NONE
                case 's': SetItems(PopMany(2)); break;                           // SETITEM
                case 'u': SetItems(PopToMark()); break;                          // SETITEMS
                case 'a': Append(PopMany(1)); break;                             // APPEND
                case 'e': Append(PopToMark()); break;                            // APPENDS
                case 'c': Push(Global(ReadLine(), ReadLine())); break;           // GLOBAL
                case 0x93:                                                       // STACK_GLOBAL
                {
                    object?[] names = PopMany(2);
                    Push(Global(names[0] as string ?? throw Invalid("STACK_GLOBAL is given a non-string module"),
                        names[1] as string ?? throw Invalid("STACK_GLOBAL is given a non-string name")));
                    break;
                }
                case 'R':                                                        // REDUCE
                {
                    object?[] callAndArgs = PopMany(2);
                    var callable = callAndArgs[0] as PickleGlobal ?? throw Invalid($"REDUCE calls {Describe(callAndArgs[0])}, which is not a global");
                    var args = callAndArgs[1] as object?[] ?? throw Invalid($"REDUCE calls {callable} with {Describe(callAndArgs[1])} instead of an argument tuple");
                    Push(_call(callable, args));
                    break;
                }
                case 'b':                                                        // BUILD: only OrderedDict's instance state (_metadata)
                {
                    object? state = PopMany(1)[0];
                    if (Peek() is not OrderedDictionary<object, object?> || state is not (OrderedDictionary<object, object?> or null))
                        throw Invalid($"BUILD sets the state of {Describe(Peek())} to {Describe(state)}; a state dict only sets an OrderedDict's metadata");
                    break;
                }
                case 'Q':                                                        // BINPERSID
                {
                    var id = PopMany(1)[0] as object?[] ?? throw Invalid("a persistent id is not a tuple");
                    Push(_persistentLoad(id));
                    break;
                }
                default:
                    throw Invalid($"it uses the pickle opcode 0x{op:x2} ('{(op is >= 0x20 and < 0x7f ? (char)op : '?')}') at byte {position}, " +
                        "which a state dict does not need, so it is refused");
            }
        }
    }

    private PickleGlobal Global(string module, string name)
    {
        var global = new PickleGlobal(module, name);
        if (!AllowedGlobals.Contains(global.ToString()))
            throw Invalid($"it refers to the Python global '{global}', which is not allowed in a state dict (loading it could run arbitrary code), so it is refused");
        return global;
    }

    private void SetItems(IReadOnlyList<object?> items)
    {
        if (items.Count % 2 != 0) throw Invalid("SETITEMS has a key without a value");
        if (Peek() is not OrderedDictionary<object, object?> dict) throw Invalid($"SETITEMS targets {Describe(Peek())} instead of a dict");
        for (int i = 0; i < items.Count; i += 2)
            dict[items[i] ?? throw Invalid("a dict key is None")] = items[i + 1];
    }

    private void Append(IReadOnlyList<object?> items)
    {
        if (Peek() is not List<object?> list) throw Invalid($"APPENDS targets {Describe(Peek())} instead of a list");
        list.AddRange(items);
    }

    private object ReadLong1()
    {
        int length = ReadBytes(1)[0];
        var value = new BigInteger(ReadBytes(length), isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private string ReadString(ulong length)
    {
        if (length > int.MaxValue || (long)length > _stream.Length - _stream.Position)
            throw Invalid($"a string claims {length} bytes, more than the file holds");
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(ReadBytes((int)length));
        }
        catch (DecoderFallbackException)
        {
            throw Invalid("a string is not valid UTF-8");
        }
    }

    private string ReadLine()
    {
        var bytes = new List<byte>();
        while (true)
        {
            int b = _stream.ReadByte();
            if (b < 0) throw Invalid("it ends inside a GLOBAL name, so the file is probably truncated");
            if (b == '\n') return Encoding.ASCII.GetString(bytes.ToArray());
            if (bytes.Count > 256) throw Invalid("a GLOBAL name is longer than 256 bytes");
            bytes.Add((byte)b);
        }
    }

    private byte[] ReadBytes(int count)
    {
        var bytes = new byte[count];
        if (_stream.ReadAtLeast(bytes, count, throwOnEndOfStream: false) < count)
            throw Invalid("it ends in the middle of a pickle opcode, so the file is probably truncated");
        return bytes;
    }

    private object? MemoGet(long key) =>
        _memo.TryGetValue(key, out object? value) ? value : throw Invalid($"it reads memo entry {key}, which was never stored");

    private void Push(object? value) => _stack.Add(value);

    private object? Peek()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count))
            throw Invalid("an opcode reads from an empty stack");
        return _stack[^1];
    }

    private object?[] PopMany(int count)
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count - count < floor) throw Invalid("an opcode pops more values than the stack holds");
        object?[] values = _stack.GetRange(_stack.Count - count, count).ToArray();
        _stack.RemoveRange(_stack.Count - count, count);
        return values;
    }

    private List<object?> PopToMark()
    {
        if (_marks.Count == 0) throw Invalid("an opcode pops to a MARK that was never set");
        int mark = _marks.Pop();
        List<object?> values = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return values;
    }

    private object? PopFinal()
    {
        if (_stack.Count != 1 || _marks.Count != 0) throw Invalid($"its pickle stops with {_stack.Count} values on the stack instead of one");
        return _stack[0];
    }

    private static string Describe(object? value) => value switch
    {
        null => "None",
        string s => $"the string '{s}'",
        _ => $"a {value.GetType().Name}",
    };

    private InvalidDataException Invalid(string problem) => TorchCheckpoint.Invalid(_path, problem);
}
