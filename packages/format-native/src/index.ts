export { NativeFormat, createNativeFormat, NATIVE_FORMAT_VERSION } from './native-format.js';
